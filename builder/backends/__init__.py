"""Backends turn a checked ONNX model into the deployable artifact."""
