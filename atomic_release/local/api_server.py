"""The Chalice app served on 127.0.0.1 with a local runtime behind it: the maintainers' API
and page, as a deployed stack serves them, for the CLI, a browser and the tests."""

import threading

from chalice.config import Config
from chalice.local import LocalDevServer


class ServedApp:
    """``with ServedApp(port) as served:`` serves the app at ``served.url`` until the block
    ends. Port 0 takes a free one. Start it inside a started LocalRuntime."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        from app import app  # the environment the local runtime set up is read per request

        self._server = LocalDevServer(app, Config(chalice_stage="local"), host, port)
        self.host, self.port = self._server.server.server_address[:2]
        self._thread = threading.Thread(target=self._server.server.serve_forever, name="served-app", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "ServedApp":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server.server_close()
        self._thread.join(timeout=5)
