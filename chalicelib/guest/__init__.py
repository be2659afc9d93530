"""The builder and QA guests: the user-data that carries their parameters, and their scripts (``scripts/``)."""
