"""Webhook requests as a repository's push hook sends them: announcements of commits, signed as
Standard Webhooks sign them (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)."""

import json
import time

from atomic_release.local.runtime import LocalRuntime
from chalicelib.triggers import webhook
from tests.conftest import DEVELOPER_REFS

SECRET = LocalRuntime.webhook_secret  # the local runtime's


def signed(body: dict | bytes, delivery: str, timestamp: int | None = None, secret: str = SECRET,
           also_signed_with: tuple[str, ...] = ()) -> dict:
    """A request's body and headers; ``also_signed_with``: more secrets, as a sender signs during
    a rotation (one signature per secret, separated by spaces)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signatures = " ".join(webhook.sign(key, delivery, stamp, raw) for key in (secret, *also_signed_with))
    return {"body": raw, "headers": {
        "Content-Type": "application/json", webhook.ID_HEADER: delivery, webhook.TIMESTAMP_HEADER: stamp,
        webhook.SIGNATURE_HEADER: signatures}}


def announcement(checksums: dict[str, str], stream: str = "developer") -> dict:
    return {"stream": stream, "commits": {arch: {"ref": DEVELOPER_REFS[arch], "checksum": checksums[arch]}
                                          for arch in checksums}}
