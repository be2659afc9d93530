"""The ``atomic-release`` command: local releases, the maintainers' client of the API, packaging."""
