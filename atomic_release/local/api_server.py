"""The Chalice app served on 127.0.0.1 with a local runtime behind it: the maintainers' API
and page, as a deployed stack serves them, for the CLI, a browser and the tests."""

from chalice.config import Config
from chalice.local import LocalDevServer

from atomic_release.local.serving import BackgroundServer


class ServedApp(BackgroundServer):
    """``with ServedApp(port) as served:`` serves the app at ``served.url`` until the block
    ends. Port 0 takes a free one. Start it inside a started LocalRuntime."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        from app import app  # the environment the local runtime set up is read per request

        super().__init__(LocalDevServer(app, Config(chalice_stage="local"), host, port).server, "served-app")
