"""The maintainers' page: static files served by the app itself (no CDN); the page reads the
releases API from the same origin."""

from pathlib import Path

_HERE = Path(__file__).parent
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def asset(name: str) -> tuple[str, str] | None:
    """The file's text and content type; None for anything but a file of this folder."""
    path = _HERE / name
    content_type = _CONTENT_TYPES.get(path.suffix)
    if content_type is None or path.parent != _HERE or not path.is_file():
        return None
    return path.read_text(), content_type
