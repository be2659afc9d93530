"""Where moto 5.2.5 differs from AWS in ways the release depends on, made right in-process, one
module per service patched (as moto lays out its services), plus the Marketplace Catalog service
moto lacks (``atomic_release.local.marketplace_catalog``).

Installed once per process and inert until a LocalRuntime registers handlers; every patch
names the moto internal it replaces, which is why moto is pinned to one version.

The runtime sets ``current`` on this package; the service modules read ``patches.current`` when
a patched call runs, never a copy taken at import."""

import threading
from collections.abc import Callable
from dataclasses import dataclass

from atomic_release.local import marketplace_catalog
from atomic_release.local.patches import apigateway, awslambda, cloudformation, ec2, events, stepfunctions

_installed = False
_lock = threading.Lock()


@dataclass
class Dispatch:
    """Task Lambdas by their deployed name, what to run after each invocation, and whether a
    guest is still working (then a task-token wait really waits)."""

    handlers: dict[str, Callable]
    after_invoke: Callable[[], None]
    guests_working: Callable[[], bool] = lambda: False
    launched: Callable[[str, list[str]], None] = lambda region, instance_ids: None
    copied: Callable[[str, object], None] = lambda region, ami: None
    invoking: Callable[[str, dict], None] = lambda function_name, event: None
    invoked: Callable[[str, dict], None] = lambda function_name, event: None
    stopped: Callable[[str], None] = lambda execution_arn: None
    started: Callable[[], None] = lambda: None
    invocations: int = 0


current: Dispatch | None = None


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        awslambda.install()
        stepfunctions.install()
        ec2.install()
        marketplace_catalog.install()
        apigateway.install()
        cloudformation.install()
        events.install()
        _installed = True
