"""The one factory for boto3 clients: one client per (service, region), made on first use.

All clients share one session, so each service model is read once per process; creating a
client is not thread-safe, hence the lock (Map iterations run tasks concurrently)."""

import functools
import hashlib
import threading

import boto3
from botocore.config import Config

from chalicelib.core.settings import locations, reset_settings

_RETRIES = Config(retries={"max_attempts": 8, "mode": "adaptive"})
_lock = threading.Lock()


def default_region() -> str:
    return locations().region


@functools.lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def _client(service: str, region: str, endpoint_url: str | None):
    return _session().client(service, region_name=region, endpoint_url=endpoint_url, config=_RETRIES)


def client(service: str, region: str | None = None):
    """A boto3 client for ``service`` in ``region`` (default: the function's own region)."""
    key = (service, region or default_region(), locations().aws_endpoint_url)
    with _lock:
        return _client(*key)


def reset_clients() -> None:
    """Forget every client and the session, and the settings read from the environment, for a
    process that changes its credentials, endpoints or environment (the local runtime, a test)."""
    reset_settings()
    with _lock:
        _client.cache_clear()
        _session.cache_clear()


def client_token(*parts: str) -> str:
    """An idempotency token (EC2's ClientToken, at most 64 characters) for one action."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:64]
