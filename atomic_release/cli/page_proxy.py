"""``atomic-release releases page``: the maintainers' page of a deployed stack, on this machine.
A browser cannot sign requests for the API's IAM authorization; this server on 127.0.0.1 serves
the page's files and passes its reads to the API, signed with the maintainer's credentials."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from atomic_release.cli.api_client import ApiClient, ApiError, HttpError
from atomic_release.local.serving import BackgroundServer, until_stopped
from chalicelib.api import dashboard


class PageProxy(BackgroundServer):
    """``with PageProxy(api, port) as proxy:`` serves at ``proxy.url`` until the block ends."""

    def __init__(self, api: ApiClient, port: int = 0):
        self.api = api
        super().__init__(ThreadingHTTPServer(("127.0.0.1", port), _handler(api)), "page-proxy")


def _handler(api: ApiClient) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if not self._host_is_mine():
                return
            path = urlsplit(self.path)
            if path.path == "/" or path.path.startswith("/assets/"):
                found = dashboard.asset(path.path.rsplit("/", 1)[-1] or "index.html")
                if found is None:
                    return self._json(404, {"error": f"no asset {path.path}"})
                return self._send(200, found[0].encode(), found[1])
            if path.path == "/releases" or path.path.startswith("/releases/"):
                return self._json(*self._read(path.path, dict(parse_qsl(path.query))))
            return self._json(404, {"error": f"no page {path.path}"})

        def do_POST(self):  # noqa: N802
            if not self._host_is_mine():
                return
            self._json(405, {"error": "the page here only reads; retry, abort and release with the CLI"})

        def _host_is_mine(self) -> bool:
            """A page of another site whose name a DNS rebinding points at 127.0.0.1 is same-origin
            with itself, not with this server: its requests name its own host. Refused, they are
            never passed to the API with the maintainer's signature."""
            port = self.connection.getsockname()[1]
            host = (self.headers.get("Host") or "").lower()
            if host in (f"127.0.0.1:{port}", f"localhost:{port}"):
                return True
            self._json(421, {"error": f"Host {host[:100]!r} is not this server: it answers only as 127.0.0.1:{port} "
                                      f"or localhost:{port}"})
            return False

        def _read(self, path: str, params: dict) -> tuple[int, dict]:
            try:
                return api.request("GET", path, params)
            except HttpError as error:
                return error.status, {"error": error.reason}
            except ApiError as error:
                return 502, {"error": str(error)}

        def _json(self, status: int, body: dict) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            for name, value in dashboard.HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            """Quiet: the page asks every few seconds."""

    return Handler


def serve_page(api: ApiClient, port: int) -> int:
    try:
        proxy = PageProxy(api, port)
    except OSError as error:
        raise ApiError(f"cannot serve on 127.0.0.1:{port}: {error.strerror or error}") from None
    with proxy:
        print(f"the releases page of {api.url} on {proxy.url} (Ctrl-C stops)", flush=True)
        until_stopped()
    return 0
