"""A tiny stand-in for the ``tensorrt`` module, shaped per version (8.6 / 10.x / 11.x) from the
``.def``/``.value`` bindings in NVIDIA/TensorRT ``python/src/infer/pyCore.cpp`` on release/8.6, 10.0, 10.16 and 11.0
(the table is in ``test_trt_conformance.py``).

It records every call ``trt_calls`` makes, so tests can check the call sequence on each version without
TensorRT. Enum members that a version removed are simply absent (AttributeError, as on the real module).
It builds nothing: ``build_serialized_network`` returns fixed bytes (or None when told to fail), and with an
INT8 calibrator it reads the cache through Polygraphy's real ``Calibrator`` and, if empty, iterates its data
loader and writes a cache through it, without a GPU.
"""

from __future__ import annotations

import json
import sys
import types
import weakref
from pathlib import Path
from typing import Any

from builder.machine.gpu import GpuInfo

H100 = GpuInfo(0, "NVIDIA H100 80GB HBM3", "GPU-d3f64188-fbdf-307f-4650-342a3ebaefd5", "9.0", 81559, "580.159.04")
T4 = GpuInfo(0, "Tesla T4", "GPU-0000aaaa-1111-2222-3333-444455556666", "7.5", 15360, "535.104.05")
PLAN = b"FAKE-TRT-PLAN\x00\x01\x02"
CORRUPT_CACHE = b"\x00corrupt"  # timing-cache bytes the fake's create_timing_cache cannot read
LAYERS = {
    "Layers": [{"Name": "/model.0/conv/Conv", "TacticName": "sm90_xmma_fprop"}],
    "Bindings": ["images", "output0"],
}


class _Enum:
    def __init__(self, prefix: str, names: dict[str, int]) -> None:
        for name, value in names.items():
            setattr(self, name, _Member(f"{prefix}.{name}", name, value))


class _Member:
    def __init__(self, text: str, name: str, value: int) -> None:
        self.text, self.name, self.value = text, name, value

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return self.text


def make_fake_trt(
    version: str,
    *,
    parse_ok: bool = True,
    build_ok: bool = True,
    cache_ok: bool = True,
    copy_fails_at_batch: int | None = None,
) -> types.ModuleType:
    """A fake ``tensorrt`` module of ``version``; its ``calls`` list records what was done.

    ``copy_fails_at_batch`` (1-based): the calibrator's copy of that batch to the GPU fails, which Polygraphy's
    ``get_batch`` swallows, so TensorRT sees the end of the data there. ``trt.build_barrier`` (a
    ``threading.Barrier``, None by default) is waited on inside every build: concurrent builds meet there.
    Each build adds an entry naming its input shape to its timing cache, as a build times its layers."""
    major = int(version.split(".")[0])
    trt: Any = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = calls = []
    trt.build_barrier = None

    class ILogger:
        class Severity:
            ERROR = _Member("Severity.ERROR", "ERROR", 1)
            WARNING = _Member("Severity.WARNING", "WARNING", 2)

        def __init__(self) -> None:
            calls.append(("ILogger.__init__",))

        def log(self, severity: Any, msg: str) -> None:  # overridden
            pass

    class Logger(ILogger):
        WARNING = ILogger.Severity.WARNING

        def __init__(self, severity: Any = None) -> None:
            super().__init__()

    trt.ILogger, trt.Logger = ILogger, Logger
    trt.plugin_logger = None  # a weak reference to the logger the plugin library keeps a raw pointer to

    def init_libnvinfer_plugins(logger: Any, namespace: str) -> bool:
        trt.plugin_logger = weakref.ref(logger)  # inferPlugin.cpp stores it in gLogger, without owning it
        calls.append(("init_libnvinfer_plugins", namespace))
        return True

    trt.init_libnvinfer_plugins = init_libnvinfer_plugins
    if major == 8:
        trt.NetworkDefinitionCreationFlag = _Enum(
            "NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1}
        )
    elif major == 10:
        trt.NetworkDefinitionCreationFlag = _Enum(
            "NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
        )
    else:
        trt.NetworkDefinitionCreationFlag = _Enum(
            "NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 0, "PREFER_JIT_PYTHON_PLUGINS": 1}
        )
    flags = ["TF32", "VERSION_COMPATIBLE", "REFIT", "DISABLE_TIMING_CACHE"]
    flags += ["FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS"] if major < 11 else []
    flags += ["ERROR_ON_TIMING_CACHE_MISS"] if major >= 10 else []  # NvInfer.h 10.x (= 16; tensorrt-stubs 10.13)
    trt.BuilderFlag = _Enum("BuilderFlag", {name: i for i, name in enumerate(flags)})
    trt.OnnxParserFlag = _Enum("OnnxParserFlag", {"NATIVE_INSTANCENORM": 0})
    trt.MemoryPoolType = _Enum("MemoryPoolType", {"WORKSPACE": 0})
    trt.HardwareCompatibilityLevel = _Enum("HardwareCompatibilityLevel", {"NONE": 0, "AMPERE_PLUS": 1})
    trt.ProfilingVerbosity = _Enum("ProfilingVerbosity", {"LAYER_NAMES_ONLY": 0, "NONE": 1, "DETAILED": 2})
    trt.LayerInformationFormat = _Enum("LayerInformationFormat", {"ONELINE": 0, "JSON": 1})
    trt.Dims = lambda dims: tuple(dims)
    if major < 11:

        class IInt8Calibrator:
            def __init__(self) -> None:
                calls.append(("IInt8Calibrator.__init__", type(self).__mro__[1].__name__))

        trt.IInt8Calibrator = IInt8Calibrator
        for name in ("IInt8MinMaxCalibrator", "IInt8EntropyCalibrator2", "IInt8LegacyCalibrator"):
            setattr(trt, name, type(name, (IInt8Calibrator,), {}))

    class Tensor:
        def __init__(self, name: str, shape: list[int], is_input: bool) -> None:
            self.name, self.shape, self.dtype, self.is_network_input = name, shape, "DataType.FLOAT", is_input

    trt.LayerType = _Enum("LayerType", {"CONVOLUTION": 0, "ACTIVATION": 2, "ELEMENTWISE": 4, "SHUFFLE": 9})
    trt.DataType = _Enum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3})
    trt.float32, trt.float16 = trt.DataType.FLOAT, trt.DataType.HALF

    class Layer:
        """An ``ILayer``: onnx-tensorrt names each layer after its ONNX node
        (Sigmoid -> ACTIVATION, Conv -> CONVOLUTION)."""

        num_outputs = 1
        precision: Any = None  # unset until a constraint is applied

        def __init__(self, name: str, op_type: str) -> None:
            kind = {"Conv": "CONVOLUTION", "Sigmoid": "ACTIVATION", "Relu": "ACTIVATION", "Mul": "ELEMENTWISE"}
            self.name, self.type = name, getattr(trt.LayerType, kind.get(op_type, "SHUFFLE"))

        def __setattr__(self, name: str, value: Any) -> None:
            if name == "precision":
                calls.append(("layer.precision", self.name, value.name))
            object.__setattr__(self, name, value)

        def set_output_type(self, index: int, dtype: Any) -> None:
            calls.append(("layer.set_output_type", self.name, index, dtype.name))

    class Network:
        num_inputs = num_outputs = 1
        input_shape = [-1, 3, -1, -1]  # set from the ONNX by parse_from_file
        layers: list[Layer] = []

        @property
        def num_layers(self) -> int:
            return len(self.layers)

        def get_layer(self, index: int) -> Layer:
            return self.layers[index]

        def get_input(self, index: int) -> Tensor:
            return Tensor("images", self.input_shape, True)

        def get_output(self, index: int) -> Tensor:
            return Tensor("output0", [-1, 84, -1], False)

    class ParserError:
        def __init__(self, i: int) -> None:
            self.i = i

        def code(self) -> Any:
            return _Member("ErrorCode.UNSUPPORTED_NODE", "UNSUPPORTED_NODE", 8)

        def desc(self) -> str:
            return "No importer registered for op: FancyOp"

        def node(self) -> int:
            return 41 + self.i

    if major >= 10:

        def node_name(self: ParserError) -> str:
            return f"/model.22/fancy_{self.i}"

        def node_operator(self: ParserError) -> str:
            return "FancyOp"

        ParserError.node_name, ParserError.node_operator = node_name, node_operator  # type: ignore[attr-defined]

    class OnnxParser:
        def __init__(self, network: Network, logger: Any) -> None:
            self.network, self.logger, self.num_errors = network, logger, 0 if parse_ok else 1

        def set_flag(self, flag: Any) -> None:
            calls.append(("parser.set_flag", flag.name))

        def parse_from_file(self, model: str) -> bool:
            path = model
            calls.append(("parse_from_file", path))
            from builder.backends.tensorrt.onnx_facts import onnx_facts

            dims = onnx_facts(Path(path)).inputs[0][1]
            import onnx

            graph = onnx.load(path, load_external_data=False).graph
            self.network.layers = [Layer(node.name, node.op_type) for node in graph.node]
            self.network.input_shape = [d if isinstance(d, int) and d > 0 else -1 for d in dims]
            if not parse_ok:
                self.logger.log(ILogger.Severity.ERROR, "ModelImporter.cpp:771: While parsing node number 41 [FancyOp]")
            return parse_ok

        def get_error(self, index: int) -> ParserError:
            return ParserError(index)

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = bytes(data)

        def serialize(self) -> memoryview:
            return memoryview(self.data if self.data.endswith(b"+entries") else self.data + b"+entries")

        def combine(self, input_cache: TimingCache, ignore_mismatch: bool) -> bool:
            # NvInfer.h (8.6.1 / 10.8.0): entries of the input cache are appended, conflicting ones skipped
            calls.append(("ITimingCache.combine", input_cache.data, ignore_mismatch))
            if not cache_ok:
                return False
            mine = self.data.removesuffix(b"+entries").split(b";")
            theirs = input_cache.data.removesuffix(b"+entries").split(b";")
            self.data = b";".join(sorted({*mine, *theirs} - {b""}))
            return True

    class Config:
        def __init__(self) -> None:
            object.__setattr__(self, "cache", None)
            object.__setattr__(self, "flags", set())

        def __setattr__(self, name: str, value: Any) -> None:
            calls.append(("config." + name, getattr(value, "name", value)))
            object.__setattr__(self, name, value)

        def set_flag(self, flag: Any) -> None:
            calls.append(("config.set_flag", flag.name))
            self.flags.add(flag.name)

        def clear_flag(self, flag: Any) -> None:
            calls.append(("config.clear_flag", flag.name))

        def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
            calls.append(("config.set_memory_pool_limit", pool.name, pool_size))

        def add_optimization_profile(self, profile: Any) -> int:
            calls.append(("config.add_optimization_profile", dict(profile.shapes)))
            return 0

        def create_timing_cache(self, serialized_timing_cache: bytes) -> TimingCache | None:
            # pyCore.cpp returns the ITimingCache* of createTimingCache, None (nullptr) for unreadable bytes
            data = bytes(serialized_timing_cache)
            return None if data.startswith(CORRUPT_CACHE) else TimingCache(data)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            if cache is None:  # pybind11 cannot bind None to `ITimingCache const&`
                raise TypeError("set_timing_cache(): incompatible function arguments")
            calls.append(("config.set_timing_cache", cache.data, ignore_mismatch))
            ok = cache_ok or not cache.data
            if ok:
                object.__setattr__(self, "cache", cache)
            return ok

        def get_timing_cache(self) -> TimingCache:
            return self.cache

    if major < 11:

        def set_calibration_profile(self: Config, profile: Any) -> bool:
            calls.append(("config.set_calibration_profile",))
            return True

        Config.set_calibration_profile = set_calibration_profile  # type: ignore[attr-defined]

    class OptimizationProfile:
        def __init__(self) -> None:
            self.shapes: dict[str, Any] = {}

        def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:
            self.shapes[input] = (min, opt, max)

    class Builder:
        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            calls.append(("create_network", flags))
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> OptimizationProfile:
            return OptimizationProfile()

        def build_serialized_network(self, network: Network, config: Config) -> memoryview | None:
            calibrator = getattr(config, "int8_calibrator", None)
            if calibrator is not None:
                if calibrator.read_calibration_cache() is None:
                    calls.append(("calibrated", _calibrate(calibrator)))
                    calibrator.write_calibration_cache(memoryview(b"TRT-8601-MinMaxCalibration\nimages: 3c010a14\n"))
                else:
                    calls.append(("calibration cache read",))
            if trt.build_barrier is not None:
                trt.build_barrier.wait()
            cache = getattr(config, "cache", None)
            if cache is not None:  # this build's timed layers, kept beside what was loaded
                entry = "x".join(str(d) for d in network.input_shape).encode()
                if "ERROR_ON_TIMING_CACHE_MISS" in config.flags and entry not in cache.data.split(b"+")[0].split(b";"):
                    # NvInfer.h 10.x kERROR_ON_TIMING_CACHE_MISS: "Emit error when a tactic being timed is not present
                    # in the timing cache" (the log text is this fake's; the build returns no plan)
                    calls.append(("build_serialized_network",))
                    self.logger.log(ILogger.Severity.ERROR, f"timing cache miss: {entry.decode()} is not in the cache")
                    return None
                cache.data = b";".join(sorted({*cache.data.removesuffix(b"+entries").split(b";"), entry} - {b""}))
            calls.append(("build_serialized_network",))
            if not build_ok:
                self.logger.log(ILogger.Severity.ERROR, "[optimizer.cpp::computeCosts] Error: out of memory on tactic")
                return None
            return memoryview(PLAN)

    def _calibrate(calibrator: Any) -> list[Any]:
        """TensorRT's calibration loop over Polygraphy's ``get_batch``: it pulls until "no more batches"; the
        bindings' ``getBatch`` trampoline turns any Python exception into that (NVIDIA/TensorRT v8.6.1 / v10.8.0
        ``python/src/infer/pyInt8.cpp:52-77``), and Polygraphy's ``get_batch`` swallows a ``PolygraphyException``
        from the copy to the GPU (polygraphy 0.53.6 ``backend/trt/calibrator.py``)."""
        shapes: list[Any] = []
        while True:
            try:
                batch = next(calibrator.data_loader_iter)
            except StopIteration:
                return shapes
            except Exception as err:  # noqa: BLE001 - what the trampoline does
                calls.append(("get_batch raised", type(err).__name__))
                return shapes
            if copy_fails_at_batch is not None and len(shapes) + 1 == copy_fails_at_batch:
                calls.append(("get_batch copy failed", len(shapes) + 1))
                return shapes
            shapes.append(batch["images"].shape)

    class EngineInspector:
        def get_engine_information(self, format: Any) -> str:
            return json.dumps(LAYERS)

    class Engine:
        def create_engine_inspector(self) -> EngineInspector:
            return EngineInspector()

    class Runtime:
        def __init__(self, logger: Any) -> None:
            self.engine_host_code_allowed = False

        def deserialize_cuda_engine(self, serialized_engine: bytes) -> Engine | None:
            plan = bytes(serialized_engine)
            calls.append(("deserialize_cuda_engine", plan, self.engine_host_code_allowed))
            return Engine() if plan == PLAN else None

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    # the stub class each fake class stands for (tests/backends/tensorrt/test_trt_conformance.py)
    trt.fake_classes = {
        "Builder": Builder,
        "INetworkDefinition": Network,
        "ILayer": Layer,
        "ITensor": Tensor,
        "OnnxParser": OnnxParser,
        "ParserError": ParserError,
        "IBuilderConfig": Config,
        "IOptimizationProfile": OptimizationProfile,
        "ITimingCache": TimingCache,
        "Runtime": Runtime,
        "ICudaEngine": Engine,
        "EngineInspector": EngineInspector,
    }
    return trt


def install(monkeypatch: Any, trt: types.ModuleType, gpus: tuple[GpuInfo, ...] = (H100,)) -> None:
    """Make ``import tensorrt`` return ``trt`` and GPU discovery report ``gpus``, for one test."""
    from builder.machine import gpu

    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(
        gpu,
        "probe_gpus",
        lambda: gpu.GpuProbe(tuple(gpus), "nvml" if gpus else "none", () if gpus else ("NVML: no driver",)),
    )
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
