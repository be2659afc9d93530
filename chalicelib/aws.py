"""The one factory for boto3 clients: one client per (service, region), made on first use."""

import functools
import os

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"max_attempts": 8, "mode": "adaptive"})


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@functools.lru_cache(maxsize=None)
def _client(service: str, region: str, endpoint_url: str | None):
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint_url, config=_RETRIES)


def client(service: str, region: str | None = None):
    """A boto3 client for ``service`` in ``region`` (default: the function's own region)."""
    return _client(service, region or default_region(), os.environ.get("AWS_ENDPOINT_URL"))


def reset_clients() -> None:
    """Forget every client, for a process that changes credentials or endpoints."""
    _client.cache_clear()
