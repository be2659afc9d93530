"""What runs beside AWS, never in it: the atomic-release CLI and the local runtime."""
