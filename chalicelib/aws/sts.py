"""STS adapter: the account the functions run in."""

import functools

from chalicelib.aws.clients import client


@functools.lru_cache(maxsize=1)
def account_id() -> str:
    return client("sts").get_caller_identity()["Account"]
