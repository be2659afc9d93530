"""The Chalice app served on 127.0.0.1 with a local runtime behind it: the maintainers' API
and page, as a deployed stack serves them, for the CLI, a browser and the tests."""

from chalice.config import Config
from chalice.local import LocalDevServer, ThreadedHTTPServer

from atomic_release.local.serving import BackgroundServer

LISTEN_BACKLOG = 128


class _BackloggedServer(ThreadedHTTPServer):
    # The standard library listens with a backlog of 5: a burst of deliveries (a compose
    # announcing every ref at once) had connections reset before the server accepted them.
    request_queue_size = LISTEN_BACKLOG


class ServedApp(BackgroundServer):
    """``with ServedApp(port) as served:`` serves the app at ``served.url`` until the block
    ends. Port 0 takes a free one. Start it inside a started LocalRuntime."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        from app import app  # the environment the local runtime set up is read per request

        server = LocalDevServer(app, Config(chalice_stage="local"), host, port, server_cls=_BackloggedServer).server
        super().__init__(server, "served-app")
