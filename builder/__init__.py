"""Engine Foundry: reproducible Ultralytics YOLO -> TensorRT / ONNX Runtime builds."""

__version__ = "0.1.0"
__all__ = ["__version__"]
