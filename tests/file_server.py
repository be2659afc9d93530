"""Files served on 127.0.0.1 as a CDN serves them, with Range requests (which Python's
http.server does not do), and the faults a download must survive: a response cut short, and a
server that ignores Range."""

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class Served:
    """One request as the server saw it, and how many body bytes it sent."""

    path: str
    range: str | None
    status: int
    sent: int = 0


@dataclass
class FileServer:
    """``files`` (path -> bytes) on 127.0.0.1, at ``url``. ``cut_after[path] = n``: the next
    response for the path stops after n body bytes (its Content-Length promising the whole), then
    the fault is spent. ``ignore_range``: every GET answers 200 with the whole file."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    requests: list[Served] = field(default_factory=list)

    def __enter__(self) -> "FileServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server._answer(self)

            def log_message(self, *_args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        wanted = handler.headers.get("Range")
        served = Served(path=path, range=wanted, status=404)
        self.requests.append(served)
        body = self.files.get(path)
        if body is None:
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        match = _RANGE.match(wanted or "")
        start = int(match.group(1)) if match and not self.ignore_range else None
        if start is not None and start >= len(body):
            served.status = 416
            handler.send_response(416)
            handler.send_header("Content-Range", f"bytes */{len(body)}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        served.status = 200 if start is None else 206
        rest = body[start or 0:]
        handler.send_response(served.status)
        if start is not None:
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        handler.send_header("Accept-Ranges", "none" if self.ignore_range else "bytes")
        handler.send_header("Content-Length", str(len(rest)))
        handler.end_headers()
        sent = rest[:self.cut_after.pop(path, len(rest))]
        served.sent = len(sent)   # before the write: the client may have read it all before the write returns
        handler.wfile.write(sent)
        if len(sent) < len(rest):
            handler.close_connection = True
