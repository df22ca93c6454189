"""The scheduling examples call `nightly` with arguments the real CLI accepts."""

from __future__ import annotations

import shlex

import yaml

from builder.cli import build_parser
from builder.errors import CLI
from builder.ops.commands import _cmd_nightly
from tests.support import REPO

EXAMPLES = REPO / "examples" / "scheduling"


def _nightly_args(command: str) -> list[str]:
    words = shlex.split(command)
    start = next(i for i, word in enumerate(words) if word.endswith("/.venv/bin/engine-foundry") or word == CLI) + 1
    end = next((i for i in range(start, len(words)) if words[i] in (">>", ">", "|", "&&")), len(words))
    return words[start:end]


def test_cron_line_has_five_time_fields_and_a_valid_nightly_command():
    lines = [line for line in (EXAMPLES / "crontab").read_text().splitlines() if line and not line.startswith("#")]
    (line,) = lines
    fields = line.split(maxsplit=5)
    assert fields[:5] == ["30", "2", "*", "*", "*"]
    args = build_parser().parse_args(_nightly_args(fields[5]))
    assert args.handler is _cmd_nightly and not args.bare and args.keep == 7


def test_compose_service_runs_nightly_bare_with_the_reports_volume():
    compose = yaml.safe_load((EXAMPLES / "compose.nightly.yml").read_text())
    service = compose["services"]["nightly"]
    args = build_parser().parse_args([str(a) for a in service["command"]])
    assert args.handler is _cmd_nightly and args.bare
    targets = {v["target"]: v.get("read_only", False) for v in service["volumes"]}
    assert targets == {"/profiles": True, "/models": True, "/artifacts": False, "/cache": False, "/reports": False}
    assert str(args.reports) == "/reports" and str(args.artifacts) == "/artifacts"
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_ci_workflow_runs_on_a_self_hosted_gpu_runner_and_keeps_the_report():
    workflow = yaml.safe_load((EXAMPLES / "github-nightly.yml").read_text())
    job = workflow["jobs"]["nightly"]
    assert job["runs-on"] == ["self-hosted", "linux", "gpu"]
    assert workflow[True]["schedule"][0]["cron"] == "30 2 * * *"  # YAML 1.1 reads the key `on` as True
    runs = [step["run"] for step in job["steps"] if "engine-foundry nightly" in step.get("run", "")]
    (run,) = runs
    args = build_parser().parse_args(_nightly_args(run))
    assert args.handler is _cmd_nightly and args.latency_threshold == 0.2
    upload = next(step for step in job["steps"] if "upload-artifact" in step.get("uses", ""))
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"
