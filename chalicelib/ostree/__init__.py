"""Reading ostree repositories over HTTP: summary, refs and commits (GVariant)."""
