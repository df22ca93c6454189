"""Issue 17: a build of random weights says so, and which of its checks cannot mean anything."""

from __future__ import annotations

from builder.profile import load_profile
from builder.record.weights import UNTRAINED_CHECKS, weights_fingerprint
from tests.support import REPO


def test_a_model_yaml_is_untrained_and_a_checkpoint_is_not() -> None:
    models = REPO / "models"
    untrained = weights_fingerprint(load_profile("cpu-fp32", REPO / "profiles").model, models)
    trained = weights_fingerprint(load_profile("cpu-fp32-shapes", REPO / "profiles").model, models)
    assert untrained.untrained and not trained.untrained
    assert untrained.record() == {
        "identity": "yaml:yolo11n.yaml:seed=0",
        "sha256": untrained.sha256,
        "untrained": True,
        "not_meaningful": UNTRAINED_CHECKS,
    }
    assert trained.record() == {"identity": "checkpoint:fixtures/shapes-yolo11n.pt", "sha256": trained.sha256}
    assert {"verify.detections", "accuracy"} <= set(UNTRAINED_CHECKS)


def test_the_note_is_shown_without_verbose() -> None:
    from builder.host.progress import SHOWN

    assert SHOWN.match("NOTE yaml:yolo11n.yaml:seed=0 is untrained (random weights): not meaningful for it: …")
