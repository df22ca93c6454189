"""Parser and builder failures translated into one EngineBuildError (pure)."""

from __future__ import annotations

from builder.backends.tensorrt.errors import LogRecorder, ParserIssue, build_error, parser_error
from builder.errors import EngineBuildError, ExitCode


def test_log_recorder_keeps_severities_counts_and_a_tail() -> None:
    log = LogRecorder(keep=5)
    log.add("Severity.VERBOSE", "tactic 0x1 timed")
    log.add("INFO", "Loaded engine size: 6 MiB")
    for i in range(6):
        log.add("WARNING", f"warning {i}")
    log.add("Severity.ERROR", "out of memory\n")
    log.add("INTERNAL_ERROR", "assertion failed")
    assert log.counts == {"VERBOSE": 1, "INFO": 1, "WARNING": 6, "ERROR": 1, "INTERNAL_ERROR": 1}
    assert log.tail(2) == ["[E] out of memory", "[F] assertion failed"]
    assert log.tail(10) == [
        "[W] warning 3",
        "[W] warning 4",
        "[W] warning 5",
        "[E] out of memory",
        "[F] assertion failed",
    ]
    assert log.tail(10, "ERROR") == ["[E] out of memory", "[F] assertion failed"]
    assert all("tactic" not in line for line in log.tail(10, "VERBOSE"))  # VERBOSE not kept by default


def test_parser_issue_text_on_86_and_10() -> None:
    on86 = ParserIssue("UNSUPPORTED_NODE", "No importer registered for op: Foo", 41)
    on10 = ParserIssue("UNSUPPORTED_NODE", "No importer registered for op: Foo", 41, "/model.22/foo", "Foo")
    model = ParserIssue("INVALID_GRAPH", "bad IR version", -1)
    assert str(on86) == "node 41: [UNSUPPORTED_NODE] No importer registered for op: Foo"
    assert str(on10) == "node 41 '/model.22/foo' (Foo): [UNSUPPORTED_NODE] No importer registered for op: Foo"
    assert str(model) == "model: [INVALID_GRAPH] bad IR version"


def test_parser_error_lists_issues_log_and_a_fitting_hint() -> None:
    log = LogRecorder()
    log.add("ERROR", 'ModelImporter.cpp:771: While parsing node number 41 [Foo -> "out"]:')
    err = parser_error("/b/model.onnx", [ParserIssue("UNSUPPORTED_NODE", "no importer", 41, "/m/foo", "Foo")], log)
    assert isinstance(err, EngineBuildError) and err.exit_code == ExitCode.STAGE and err.stage == "build"
    assert err.message.startswith("build: TensorRT's ONNX parser rejected /b/model.onnx:")
    assert "node 41 '/m/foo' (Foo)" in err.message and "While parsing node number 41" in err.message
    assert "opset: 17" in (err.hint or "")
    broken = parser_error("/b/m.onnx", [ParserIssue("MODEL_DESERIALIZE_FAILED", "protobuf", -1)], LogRecorder())
    assert "malformed or truncated" in (broken.hint or "") and "TensorRT log" not in broken.message
    silent = parser_error("/b/m.onnx", [], LogRecorder())
    assert "reported no error" in silent.message and "polygraphy inspect model /b/m.onnx" in (silent.hint or "")


def test_build_error_hints_follow_the_log() -> None:
    def with_line(line: str) -> EngineBuildError:
        log = LogRecorder()
        log.add("INFO", "Local timing cache in use.")
        log.add("ERROR", line)
        return build_error(log)

    oom = with_line("[virtualMemoryBuffer.cpp::resizePhysical] Error Code 2: OutOfMemory (out of memory)")
    assert "build_serialized_network returned no plan" in oom.message and "[E] [virtualMemoryBuffer" in oom.message
    assert "workspace" in (oom.hint or "") and "Local timing cache" not in oom.message
    assert (
        "calibration"
        in (with_line("Calibration failure occurred with no scaling factors detected.").hint or "").lower()
    )
    assert "precision: fp32" in (with_line("Could not find any implementation for node /model.0/conv/Conv.").hint or "")
    assert "logged no warning or error" in build_error(LogRecorder()).message
