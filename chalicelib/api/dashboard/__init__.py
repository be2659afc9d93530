"""The maintainers' page: static files served by the app itself (no CDN); the page reads the
releases API from the same origin."""

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from chalice import Response

from chalicelib.api.http import error

# The page's script, stylesheet, icon and reads come from its own origin, and nothing is inline:
# a string of the API that got into the page as markup could run nothing.
HEADERS = {"Content-Security-Policy": "default-src 'self'"}

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


def slash_added(requested_path: str, query: Mapping[str, str] | None = None) -> str | None:
    """Every URL of the page is relative to it, so under a stage prefix the page must be ``/api/``,
    not ``/api``: the relative Location that adds the slash, or None where the path ends with one.
    (The page cannot add it itself: its script is not inline, and ``assets/app.js`` read from
    ``/api`` is ``/assets/app.js``, outside the stage.)"""
    if requested_path.endswith("/"):
        return None
    location = requested_path.rsplit("/", 1)[-1] + "/"
    return location + (f"?{urlencode(query)}" if query else "")


def page(requested_path: str, query: Mapping[str, str] | None = None) -> Response:
    """The page, or the redirect that adds its slash (``slash_added``)."""
    moved = slash_added(requested_path, query)
    if moved:
        return Response(body="", status_code=301, headers={"Location": moved, **HEADERS})
    return served("index.html")


def served(name: str) -> Response:
    """The file of this folder named ``name``, not cached; 404 for anything else."""
    found = asset(name)
    if found is None:
        missing = error(404, f"no asset {name}")
        return Response(body=missing.body, status_code=missing.status)
    body, content_type = found
    return Response(body=body, status_code=200,
                    headers={"Content-Type": content_type, "Cache-Control": "no-cache", **HEADERS})
