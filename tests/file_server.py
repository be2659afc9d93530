"""Files served on 127.0.0.1 as a CDN serves them, with Range requests (which Python's
http.server does not do), and the faults a download must survive: a response cut short, a
server that ignores Range, and one that sends more than it announced, or announces nothing."""

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d+)-$")
ENDLESS_BYTES = 32 << 20   # "endless" stops there, unterminated: a client that never stops fails, not hangs


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
    the fault is spent. ``ignore_range``: every GET answers 200 with the whole file.
    ``chunked``: paths sent with chunked framing, no Content-Length (``endless``: the body again
    and again, until the client hangs up or ENDLESS_BYTES are sent); ``announced[path] = n``: a Content-Length of n sent
    with the chunked body anyway, which the client's framing ignores."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_after: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    chunked: set[str] = field(default_factory=set)
    endless: bool = False
    announced: dict[str, int] = field(default_factory=dict)
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
        if path in self.chunked:
            self._send_chunked(handler, served, rest)
            return
        handler.send_header("Content-Length", str(len(rest)))
        handler.end_headers()
        sent = rest[:self.cut_after.pop(path, len(rest))]
        served.sent = len(sent)   # before the write: the client may have read it all before the write returns
        handler.wfile.write(sent)
        if len(sent) < len(rest):
            handler.close_connection = True

    def _send_chunked(self, handler: BaseHTTPRequestHandler, served: Served, body: bytes) -> None:
        handler.send_header("Transfer-Encoding", "chunked")
        if served.path in self.announced:
            handler.send_header("Content-Length", str(self.announced[served.path]))
        handler.end_headers()
        handler.close_connection = True
        try:
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
                served.sent += len(body)
                if not self.endless:
                    handler.wfile.write(b"0\r\n\r\n")
                    return
                if served.sent >= ENDLESS_BYTES:
                    return
        except (BrokenPipeError, ConnectionResetError):   # the client stopped reading, as it should
            return
