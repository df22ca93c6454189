"""Quiet build output: a line per stage on the terminal, the whole log in a file, -v for everything."""

from __future__ import annotations

from builder.host.progress import ProgressSink

COLD_BUILD = [
    "starting engine-foundry:cpu (sha256:e0d7aec0aa64) for cpu-fp32",
    "[export] started",
    "Ultralytics 8.4.190 🚀 Python-3.11.2 torch-2.13.0+cpu CPU (Intel Xeon Processor)",
    "💡 ProTip: Export to OpenVINO format for best performance on Intel hardware.",
    "[export] ok in 22.9s",
    "[verify] started",
    "[I] reference:onnxrt-fp32               | Activating and starting inference",
    "[W] 'colored' module is not installed, will not use colors when logging.",
    "[verify] ok in 9.1s",
    "[benchmark] FAILED after 3.0s",
    "BUILT cpu-fp32: /srv/artifacts/cpu-fp32/builds/X",
]  # lines of a real cold build (make nightly on this host, 2026-11-29), shortened


def test_terminal_gets_one_line_per_stage_and_the_outcome_the_file_gets_everything(tmp_path):
    shown: list[str] = []
    sink = ProgressSink(tmp_path / "logs" / "x.log", out=shown.append)
    for line in COLD_BUILD:
        sink(line)
    sink.close()
    assert shown == [COLD_BUILD[0], "[export] ok in 22.9s", "[verify] ok in 9.1s", "[benchmark] FAILED after 3.0s", COLD_BUILD[-1],
                     f"full log: {tmp_path / 'logs' / 'x.log'} (-v shows it live)"]  # fmt: skip
    assert (tmp_path / "logs" / "x.log").read_text().splitlines() == COLD_BUILD


def test_verbose_shows_every_line_live(tmp_path):
    shown: list[str] = []
    sink = ProgressSink(tmp_path / "x.log", verbose=True, out=shown.append)
    for line in COLD_BUILD:
        sink(line)
    sink.close()
    assert shown == COLD_BUILD
