"""FP16 margins of the shipped GPU profiles, measured on a real GPU with the verify stage's own checks.

The GPU host we can use has CUDA and PyTorch but no TensorRT, so PyTorch's ``.half()`` on CUDA stands in for
TensorRT's FP16 kernels (IEEE half storage and arithmetic on the same GPU; TensorRT may pick other tactics and keep
more layers in FP32, so its errors are expected to be no larger). For each profile, on the GPU:

- ``verify``: the profile's own verification inputs (:func:`builder.pipeline.stages.verify.verification_inputs`) through
  an FP32 and an FP16 copy of the model; per output the largest absolute and relative error and how many inputs break
  the profile's tolerance (Polygraphy's element-wise rule: an element fails when it exceeds both atol and rtol); per
  image the verify stage's detection check (:mod:`builder.yolo.detections`) at the profile's thresholds.
- **teeth**: the same detection check between FP32 outputs of two *different* images. A check that passes there
  cannot tell a working engine from a broken one (what an untrained model does: its scores sit at the head's bias
  prior, whatever the input).
- ``accuracy``: mAP50-95 of the FP32 and the FP16 copy on the profile's accuracy split, by the evaluate stage's own
  scorer (:func:`builder.yolo.evaluation.score_split`), at the profile's batch.

Usage (on a GPU host, from the repository root): ``python3 bench/gpu_fp16_proxy.py [--profiles a10-fp16 ...]
[--control cpu-fp32] [--json out.json]``. The control profile is judged at the FP16 thresholds of the first profile.
The numbers of the last run are in docs/tensorrt.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from builder.pipeline.stages.export import _load_yolo  # noqa: E402
from builder.pipeline.stages.verify import CANDIDATE_POOL, verification_inputs  # noqa: E402
from builder.profile import Profile, load_profile  # noqa: E402
from builder.record.weights import weights_fingerprint  # noqa: E402
from builder.yolo.dataset import load_split  # noqa: E402
from builder.yolo.detections import decode_detections, match_detections, select_end2end  # noqa: E402
from builder.yolo.evaluation import score_split  # noqa: E402

DEFAULT_PROFILES = ("a10-fp16", "t4-fp16", "h100-fp16", "a100-fp16-dynamic", "b200-fp16", "a10-fp16-e2e")
OUTPUT = "output0"


DEVICE = "cuda"


def _nets(profile: Profile, models_dir: Path) -> tuple[Any, Any]:
    """FP32 and FP16 eval copies on CUDA whose heads return the exported output (as the export stage's check)."""
    from ultralytics.nn.modules.head import Detect

    yolo = _load_yolo(profile, weights_fingerprint(profile.model, models_dir))
    net = copy.deepcopy(yolo.model).float().eval()
    end2end = _end2end(profile)
    if hasattr(net, "end2end"):
        net.end2end = end2end
    for module in net.modules():
        if isinstance(module, Detect):
            module.export, module.format, module.shape = True, "onnx", None
            if end2end:  # the raw one-to-one head (B, 4 + nc, A), as the export stage's reference hands it back
                module.postprocess = lambda preds: preds.permute(0, 2, 1)
    net32 = net.to(DEVICE)
    net16 = copy.deepcopy(net32).half()
    return net32, net16


def _infer(net: Any, half: bool) -> Any:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = torch.from_numpy(x).to(DEVICE)
            out = net(t.half() if half else t)
            out = out if isinstance(out, torch.Tensor) else out[0]
            return out.float().cpu().numpy()

    return run


def _end2end(profile: Profile) -> bool:
    """``outputs.nms: end2end``: the nets return the raw one-to-one head; detections are Detect.postprocess's top-k
    of it (:func:`select_end2end`, what verify compares the engine's final detections with), FP16 head and all."""
    return profile.outputs.nms == "end2end"


def _final(raw: np.ndarray, max_det: int = 300) -> np.ndarray:
    """The end-to-end output ``(batch, max_det, 6)`` (x1, y1, x2, y2, score, class) of a raw one-to-one head."""
    out = np.zeros((raw.shape[0], max_det, 6), dtype=np.float32)
    for index, dets in enumerate(select_end2end(raw, max_det, max_det)):
        n = len(dets.scores)
        out[index, :n, :4], out[index, :n, 4], out[index, :n, 5] = dets.boxes, dets.scores, dets.classes
    return out


def _detections(ref: np.ndarray, got: np.ndarray, profile: Profile) -> dict[str, Any]:
    spec = profile.verify.detection
    select = select_end2end if _end2end(profile) else decode_detections
    refs = select(ref, spec.top_k)
    gots = select(got, spec.top_k * CANDIDATE_POOL)
    reports = [match_detections(r, g, spec.iou, spec.score_atol) for r, g in zip(refs, gots, strict=True)]
    worst = min(reports, key=lambda r: r.agreement)
    scores = refs[0].scores
    return {
        "agreement": worst.agreement,
        "top_score": float(scores.max()) if len(scores) else 0.0,
        "score_spread": float(scores.max() - scores.min()) if len(scores) else 0.0,
        "first_mismatch": worst.first_mismatch,
    }


def measure(profile: Profile, judged_by: Profile, models_dir: Path) -> dict[str, Any]:
    """One profile's FP16 margins, judged at ``judged_by``'s verify thresholds."""
    net32, net16 = _nets(profile, models_dir)
    f32, f16 = _infer(net32, False), _infer(net16, True)
    tol = judged_by.verify.tolerance_for(OUTPUT)
    det = judged_by.verify.detection
    rows, image_outs = [], []
    for item in verification_inputs(profile, models_dir):
        ref, got = f32(item.array), f16(item.array)
        diff = np.abs(ref - got)
        rel = diff / np.maximum(np.abs(ref), 1e-12)
        failing = int(np.count_nonzero((diff > tol.atol) & (rel > tol.rtol)))
        row: dict[str, Any] = {
            "input": f"{item.label} (batch {item.batch})",
            "max_abs": float(diff.max()),
            "max_rel": float(rel.max()),
            "elements_over_tolerance": failing,
            "tensor_passed": failing == 0,
        }
        if item.image:
            row["detections"] = _detections(ref, got, judged_by)
            image_outs.append((item.label, ref))
        rows.append(row)
    teeth = [  # each image against the next one of the same batch size
        {"pair": f"{a[0]} vs {b[0]}", **_detections(a[1], b[1], judged_by)}
        for a, b in zip(image_outs, image_outs[1:] + image_outs[:1], strict=True)
        if a[0] != b[0] and a[1].shape == b[1].shape
    ]
    result: dict[str, Any] = {
        "profile": profile.name,
        "model": profile.model.identity,
        "imgsz": list(profile.imgsz),
        "batch": profile.batch.opt,
        "thresholds": {
            "atol": tol.atol,
            "rtol": tol.rtol,
            "iou": det.iou,
            "score_atol": det.score_atol,
            "min_agreement": det.min_agreement,
        },
        "inputs": rows,
        "teeth": teeth,
    }
    if profile.accuracy is not None:
        acc = profile.accuracy
        split = load_split(models_dir, acc.data, acc.split, acc.samples)
        t0 = time.monotonic()
        if _end2end(profile):
            e32, e16 = (lambda x, f=f: _final(f(x)) for f in (f32, f16))
            m32 = score_split(e32, split, profile.imgsz, profile.batch.opt, end2end=True)
            m16 = score_split(e16, split, profile.imgsz, profile.batch.opt, end2end=True)
        else:
            m32 = score_split(f32, split, profile.imgsz, profile.batch.opt)
            m16 = score_split(f16, split, profile.imgsz, profile.batch.opt)
        result["accuracy"] = {
            "images": m32.images,
            "fp32": {"map50": m32.map50, "map50_95": m32.map50_95},
            "fp16": {"map50": m16.map50, "map50_95": m16.map50_95},
            "drop_map50_95": m32.map50_95 - m16.map50_95,
            "max_map_drop": acc.max_map_drop,
            "min_map50_95": acc.min_map50_95,
            "seconds": round(time.monotonic() - t0, 1),
        }
    return result


def summary(result: dict[str, Any]) -> str:
    """One markdown row: worst tensor error, worst image agreement, teeth, mAP drop."""
    inputs = result["inputs"]
    images = [r["detections"] for r in inputs if "detections" in r]
    worst_abs = max(r["max_abs"] for r in inputs)
    over = sum(1 for r in inputs if not r["tensor_passed"])
    agree = min((d["agreement"] for d in images), default=float("nan"))
    tops = [d["top_score"] for d in images]
    teeth = max((t["agreement"] for t in result["teeth"]), default=float("nan"))
    acc = result.get("accuracy")
    mapped = (
        f"{acc['fp32']['map50_95']:.4f} / {acc['fp16']['map50_95']:.4f} (drop {acc['drop_map50_95']:+.4f}, "
        f"gate {acc['max_map_drop']})"
        if acc
        else "no accuracy split"
    )
    th = result["thresholds"]
    return (
        f"| {result['profile']} | {result['imgsz'][0]}, batch {result['batch']} | {worst_abs:.3g} (atol {th['atol']}; "
        f"{over}/{len(inputs)} inputs over) | {agree:.1%} (min {th['min_agreement']:.0%}) | "
        f"{min(tops, default=0):.3g}–{max(tops, default=0):.3g} | {teeth:.1%} | {mapped} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=list(DEFAULT_PROFILES))
    parser.add_argument("--control", default="cpu-fp32", help="judged at the first profile's thresholds ('' = none)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--device", default="cuda", help="cpu only to try the script (FP16 numerics differ)")
    args = parser.parse_args(argv)
    import torch

    global DEVICE
    DEVICE = args.device

    profiles_dir, models_dir = ROOT / "profiles", ROOT / "models"
    device = torch.cuda.get_device_name(0) if DEVICE == "cuda" else DEVICE
    print(f"GPU {device}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    first = load_profile(args.profiles[0], profiles_dir)
    results = [measure(load_profile(n, profiles_dir), load_profile(n, profiles_dir), models_dir) for n in args.profiles]
    if args.control:
        results.append(
            {**measure(load_profile(args.control, profiles_dir), first, models_dir), "judged_by": first.name}
        )
    print(
        "| profile | input | max abs error, output0 | worst image agreement | top scores | teeth "
        "(other image) | mAP50-95 FP32 / FP16 |"
    )
    print("|---|---|---|---|---|---|---|")
    for result in results:
        print(summary(result))
    if args.json:
        args.json.write_text(json.dumps({"gpu": device, "torch": torch.__version__, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
