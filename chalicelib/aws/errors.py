"""What AWS said when it refused a call: the one reader of a ClientError's code and message,
and the one way to let an expected refusal pass."""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError


def code_of(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def message_of(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")


def describe(error: Exception) -> str:
    """``Code: Message`` of AWS's refusal; any other error (a botocore failure) as it reads."""
    if isinstance(error, ClientError):
        return f"{code_of(error)}: {message_of(error)}"
    return str(error)


@contextmanager
def ignoring(*codes: str) -> Iterator[None]:
    """Let a refusal with one of these codes pass (something already gone, a condition that
    says another writer won); any other error is raised."""
    try:
        yield
    except ClientError as error:
        if code_of(error) not in codes:
            raise
