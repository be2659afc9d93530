"""The maintainers' page as API Gateway serves it under a stage. The local server has no stage:
there the page is at the root. API Gateway hands the app ``/api`` and ``/api/`` alike as the route
``/``, with the path the browser asked for in ``requestContext.path``."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import requests
from chalice.local import LambdaContext

from app import app
from atomic_release.local.serving import BackgroundServer

PASSED_ON = ("Content-Type", "Content-Security-Policy", "Cache-Control", "Location")


def page_through_api_gateway(requested: str, query: dict[str, str] | None = None) -> dict:
    """The app's answer to a GET of the page at ``requested`` (``/api`` or ``/api/``)."""
    stage = requested.strip("/").split("/")[0]
    event = {
        "resource": "/", "path": "/", "httpMethod": "GET",
        "headers": {"Host": "abc123defg.execute-api.eu-west-1.amazonaws.com", "Accept": "text/html"},
        "multiValueHeaders": None, "pathParameters": None, "stageVariables": None, "body": None,
        "isBase64Encoded": False, "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "requestContext": {"resourcePath": "/", "httpMethod": "GET", "path": requested, "stage": stage,
                           "identity": {"sourceIp": "192.0.2.1"}},
    }
    return app(event, LambdaContext("api_handler", 256))


class StageGateway(BackgroundServer):
    """On 127.0.0.1: ``/<stage>`` is the app's answer as API Gateway asks for it, ``/<stage>/...``
    is the served app's ``/...``, anything else API Gateway's 403."""

    def __init__(self, app_url: str, stage: str = "api"):
        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), _handler(app_url, stage)), "stage-gateway")


def _handler(app_url: str, stage: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            path = urlsplit(self.path)
            if path.path == f"/{stage}":
                answer = page_through_api_gateway(path.path, dict(parse_qsl(path.query)) or None)
                return self._send(answer["statusCode"], answer["headers"], answer["body"].encode())
            if path.path.startswith(f"/{stage}/"):
                served = requests.get(app_url + self.path[len(stage) + 1:], timeout=30)
                return self._send(served.status_code, served.headers, served.content)
            return self._send(403, {"Content-Type": "application/json"}, b'{"message":"Missing Authentication Token"}')

        def _send(self, status: int, headers, body: bytes) -> None:
            self.send_response(status)
            for name in PASSED_ON:
                if headers.get(name):
                    self.send_header(name, headers[name])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            """Quiet."""

    return Handler
