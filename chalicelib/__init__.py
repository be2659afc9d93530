"""atomic-release library: models, stream configuration, AWS adapters and release services."""
