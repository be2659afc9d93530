"""Serve a directory (an ostree archive repository) on 127.0.0.1, as a static web server in
front of a real repository would: ETag and Last-Modified, 304 for conditional requests.
It counts requests and body bytes, so benchmarks can say what a poll cost."""

import os
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from atomic_release.local.serving import BackgroundServer

SIGNATURE_FILES = (".commitmeta", "summary.sig")


@dataclass
class Traffic:
    requests: int = 0
    body_bytes: int = 0
    not_modified: int = 0
    signature_requests: int = 0   # of the requests: detached metadata, which carries the signatures
    signature_bytes: int = 0


class _Handler(SimpleHTTPRequestHandler):
    # Keep-alive, as a real web server in front of a repository: a pull makes thousands of requests.
    protocol_version = "HTTP/1.1"
    traffic: Traffic
    _etag: str | None = None  # the ETag of the file send_head is answering with

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def send_head(self):
        self.traffic.requests += 1
        self.traffic.signature_requests += self.path.endswith(SIGNATURE_FILES)
        path = Path(self.translate_path(self.path))
        if path.is_file():
            stat = path.stat()
            etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            if etag in [t.strip() for t in self.headers.get("If-None-Match", "").split(",")]:
                self.traffic.not_modified += 1
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self.send_header("ETag", etag)
                self.end_headers()
                return None
            self._etag = etag
        return super().send_head()

    def end_headers(self):
        if self._etag:
            self.send_header("ETag", self._etag)
            self._etag = None
        super().end_headers()

    def copyfile(self, source, outputfile):
        data = source.read()
        self.traffic.body_bytes += len(data)
        if self.path.endswith(SIGNATURE_FILES):
            self.traffic.signature_bytes += len(data)
        outputfile.write(data)


class RepoServer(BackgroundServer):
    """``with RepoServer(directory) as server: server.url``"""

    def __init__(self, directory: str | os.PathLike, port: int = 0):
        self.traffic = Traffic()
        handler = type("Handler", (_Handler,), {"traffic": self.traffic})
        super().__init__(ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(directory))),
                         "ostree-repository")

    @property
    def url(self) -> str:
        return super().url + "/"
