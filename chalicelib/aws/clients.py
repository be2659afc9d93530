"""The one factory for boto3 clients: one client per (service, region), made on first use.

All clients share one session, so each service model is read once per process; creating a
client is not thread-safe, hence the lock (Map iterations run tasks concurrently)."""

import functools
import hashlib
import threading
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

from chalicelib.core.settings import locations, reset_settings

if TYPE_CHECKING:  # the stubs are a lint-time dependency; the Lambda bundle does not carry them
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_marketplace_catalog import MarketplaceCatalogClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_service_quotas import ServiceQuotasClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient

_RETRIES = Config(retries={"max_attempts": 8, "mode": "adaptive"})
_lock = threading.Lock()


def default_region() -> str:
    return locations().region


@functools.lru_cache(maxsize=1)
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    # The stubs overload Session.client on literal service names only; client()'s overloads
    # below give each service its type.
    return _session().client(service, region_name=region, endpoint_url=endpoint_url,  # type: ignore[call-overload]
                             config=_RETRIES)


# One overload per service the pipeline and its local runtime use, so each call site gets the
# stubs' typed client; any other service (a test's) is an untyped client.
@overload
def client(service: Literal["dynamodb"], region: str | None = None) -> "DynamoDBClient": ...
@overload
def client(service: Literal["ec2"], region: str | None = None) -> "EC2Client": ...
@overload
def client(service: Literal["events"], region: str | None = None) -> "EventBridgeClient": ...
@overload
def client(service: Literal["iam"], region: str | None = None) -> "IAMClient": ...
@overload
def client(service: Literal["marketplace-catalog"], region: str | None = None) -> "MarketplaceCatalogClient": ...
@overload
def client(service: Literal["s3"], region: str | None = None) -> "S3Client": ...
@overload
def client(service: Literal["secretsmanager"], region: str | None = None) -> "SecretsManagerClient": ...
@overload
def client(service: Literal["service-quotas"], region: str | None = None) -> "ServiceQuotasClient": ...
@overload
def client(service: Literal["sns"], region: str | None = None) -> "SNSClient": ...
@overload
def client(service: Literal["ssm"], region: str | None = None) -> "SSMClient": ...
@overload
def client(service: Literal["stepfunctions"], region: str | None = None) -> "SFNClient": ...
@overload
def client(service: Literal["sts"], region: str | None = None) -> "STSClient": ...
@overload
def client(service: str, region: str | None = None) -> Any: ...
def client(service: str, region: str | None = None) -> Any:
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
