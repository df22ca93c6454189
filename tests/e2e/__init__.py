"""End-to-end tests against the real Docker engine: offline base, cpu image, launcher builds."""
