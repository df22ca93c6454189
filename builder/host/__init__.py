"""Host side: the docker SDK launcher. Never imports `builder.pipeline.stages` or `builder.backends`."""
