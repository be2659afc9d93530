"""What tests and the local runtime arrange: products a seller already has, and how change sets
on them go. Each acts on the current mock's backend of the account."""

import copy
from collections.abc import Callable
from datetime import datetime

from moto.core import DEFAULT_ACCOUNT_ID

from atomic_release.local.marketplace_catalog.constants import REGION
from atomic_release.local.marketplace_catalog.entities import ChangeSet
from atomic_release.local.marketplace_catalog.models import MarketplaceCatalogBackend, marketplace_catalog_backends
from atomic_release.local.marketplace_catalog.utils import error_detail


def _backend(account_id: str) -> MarketplaceCatalogBackend:
    return marketplace_catalog_backends[account_id][REGION]


def add_product(product_id: str, title: str, visibility: str = "Public", account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """An AmiProduct entity the seller already has, without versions."""
    _backend(account_id).add_product(product_id, title, visibility)


def fail_next_change_set(product_id: str, code: str, message: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """The next change set started on the product ends FAILED (CLIENT_ERROR) with this error
    detail when it leaves APPLYING: a rejection Marketplace decides late, such as a failed scan."""
    backend = _backend(account_id)
    with backend.lock:
        backend.known_product(product_id)
        backend.scripted_failures[product_id] = error_detail(code, message)


def hold(product_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Change sets on the product stay where they are, however often they are described."""
    backend = _backend(account_id)
    with backend.lock:
        backend.known_product(product_id)
        backend.held.add(product_id)


def let_go(product_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Change sets on the product move on again with each DescribeChangeSet."""
    backend = _backend(account_id)
    with backend.lock:
        backend.known_product(product_id)
        backend.held.discard(product_id)


def gate(decide: Callable[[ChangeSet], datetime | None] | None, clock: Callable[[], datetime | None] | None = None,
         account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Change sets move on (with each DescribeChangeSet, as ever) only once ``decide`` gives the
    time they may, None: not yet (a virtual clock's: once their time has come), and one that ends
    then ends at that time, its EndTime. ``clock``: the time a change set starts, its StartTime
    (None from it: the system's). None: always, at the system's time."""
    backend = _backend(account_id)
    with backend.lock:
        backend.gate, backend.clock = decide, clock


def in_flight(account_id: str = DEFAULT_ACCOUNT_ID) -> list[str]:
    """The change sets that have not ended, by id."""
    backend = _backend(account_id)
    with backend.lock:
        return [change_set_id for change_set_id, change_set in backend.change_sets.items() if change_set.in_flight]


def steer(change_set_id: str, status: str, errors: list[tuple[str, str]] | None = None,
          account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Put a change set in flight straight into APPLYING (running Marketplace's checks),
    SUCCEEDED (adding the version when its intent is APPLY), FAILED (with ``errors`` as
    (code, message) pairs, or else what the checks found) or CANCELLED; ending unlocks its
    products."""
    _backend(account_id).steer(change_set_id, status, errors)


def versions(product_id: str, account_id: str = DEFAULT_ACCOUNT_ID) -> list[dict]:
    backend = _backend(account_id)
    with backend.lock:
        return copy.deepcopy(backend.known_product(product_id).versions)

