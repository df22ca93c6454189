"""YOLO facts shared by stages and backends: input shapes, preprocessing, detection decoding, the sidecar.

Neither a stage nor a backend: both may import it. Nothing heavy is imported with this package.
"""
