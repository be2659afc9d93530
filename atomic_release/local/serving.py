"""Servers on 127.0.0.1 that run beside the CLI, the demo and the tests."""

import signal
import socketserver
import threading

# Where a local release's public files are served from its --publish-dir
# (``python3 -m http.server -b 127.0.0.1 8000 -d DIR``): the base of its documents' https-less URLs.
LOCAL_PUBLIC_URL = "http://127.0.0.1:8000/"


class BackgroundServer:
    """An HTTP server served from a thread: ``with`` starts it and stops it."""

    def __init__(self, server: socketserver.TCPServer, name: str):
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str), "an IPv4 server's address is a (host, port) pair of str and int"
        return f"http://{host}:{port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def until_stopped() -> None:
    """Block until SIGINT or SIGTERM, then give the signals back their handlers."""
    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.2):
            pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
