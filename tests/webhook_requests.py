"""Webhook requests as a repository's push hook sends them: signed announcements of commits."""

import json
import time

from chalicelib.triggers import webhook
from tests.conftest import DEVELOPER_REFS

SECRET = b"local-webhook-secret"  # the local runtime's


def signed(body: dict | bytes, delivery: str, timestamp: int | None = None, key: bytes = SECRET) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"body": raw, "headers": {
        "Content-Type": "application/json", webhook.TIMESTAMP_HEADER: stamp,
        webhook.SIGNATURE_HEADER: webhook.sign(key, stamp, delivery, raw), webhook.DELIVERY_HEADER: delivery}}


def announcement(checksums: dict[str, str], stream: str = "developer") -> dict:
    return {"stream": stream, "commits": {arch: {"ref": DEVELOPER_REFS[arch], "checksum": checksums[arch]}
                                          for arch in checksums}}
