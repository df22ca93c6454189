import json
import subprocess
import sys

from tests.support import REPO


def test_doctor_reports_what_each_profile_needs_here():
    result = subprocess.run([sys.executable, "-m", "builder", "doctor", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["python"] and report["packages"]["onnxruntime"]
    profiles = {p["name"]: p for p in report["profiles"]}
    assert profiles["cpu-fp32"]["ready"] is True
    assert not any(name.startswith("_") for name in profiles)  # abstract bases are not buildable
    if report["packages"]["tensorrt"] is None:
        assert profiles["a10-fp16"]["ready"] is False
        assert "python package tensorrt" in profiles["a10-fp16"]["missing"]
    if not report["gpus"]:
        assert any("NVIDIA GPU" in m for m in profiles["t4-fp16"]["missing"])
        assert report["gpu_discovery"]  # says why no GPU was found
