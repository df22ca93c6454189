"""Container-side pipeline stages. Never imports `docker`."""
