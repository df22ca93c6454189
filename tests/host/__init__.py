"""Host side: container spec, launcher, image builder, docker adapter (mostly without Docker)."""
