"""Host side: the docker SDK launcher. Never imports `builder.stages` or `builder.backends`."""
