"""The backend: one per account (and us-east-1, the Catalog API's only Region), holding the
catalog's products and change sets, the operations on them and a change set's life,
PREPARING -> APPLYING -> SUCCEEDED or FAILED (or CANCELLED).

State lives on these backend objects. moto's reset, which every new ``mock_aws`` runs, drops them
as it drops every other service's, so nothing outlives a context."""

import itertools
import threading
from collections.abc import Callable
from datetime import datetime

from moto.core.base_backend import BackendDict, BaseBackend

from atomic_release.local.marketplace_catalog.checks import marketplace_findings, new_version
from atomic_release.local.marketplace_catalog.constants import (
    APPLYING,
    CANCELLED,
    CATALOG,
    CLIENT_ERROR,
    FAILED,
    FAILURE_DESCRIPTION,
    LISTED_ENTITY_TYPE,
    OTHER_ENTITY_TYPES,
    PREPARING,
    REGION,
    SERVICE,
    SUCCEEDED,
    VISIBILITIES,
)
from atomic_release.local.marketplace_catalog.entities import Change, ChangeSet, Product
from atomic_release.local.marketplace_catalog.exceptions import (
    ResourceInUseException,
    ResourceNotFoundException,
    refuse,
    refuse_field,
)
from atomic_release.local.marketplace_catalog.listing import (
    CHANGE_SET_SORT_KEYS,
    ENTITY_SORT_KEYS,
    change_set_filter,
    filter_values,
    in_order,
    one_page,
)
from atomic_release.local.marketplace_catalog.utils import bare_id, error_detail, new_change_set_id, now, timestamp
from atomic_release.local.marketplace_catalog.validation import (
    check_catalog,
    read_change,
    repeated_changes,
    request_problems,
)


class MarketplaceCatalogBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.lock = threading.RLock()
        self.products: dict[str, Product] = {}
        self.change_sets: dict[str, ChangeSet] = {}
        self.change_sets_by_token: dict[str, str] = {}
        self.held: set[str] = set()
        # when a change set may move on, None: not yet (the local runtime's virtual clock); None: now
        self.gate: Callable[[ChangeSet], datetime | None] | None = None
        # the time a change set starts (None from it: the system's); None: the system's
        self.clock: Callable[[], datetime | None] | None = None
        self.scripted_failures: dict[str, dict] = {}
        self._sequence = itertools.count()

    def _arn(self, resource: str) -> str:
        return f"arn:aws:aws-marketplace:{REGION}:{self.account_id}:{CATALOG}/{resource}"

    def _product(self, product_id: str) -> Product:
        if product_id not in self.products:
            raise ResourceNotFoundException(f"The entity '{product_id}' does not exist in the {CATALOG} catalog of "
                                            f"account {self.account_id}.")
        return self.products[product_id]

    def _change_set(self, change_set_id: str) -> ChangeSet:
        if change_set_id not in self.change_sets:
            raise ResourceNotFoundException(f"The change set '{change_set_id}' does not exist in the {CATALOG} "
                                            f"catalog of account {self.account_id}.")
        return self.change_sets[change_set_id]

    # The operations.

    def start_change_set(self, catalog: str, changes: list[dict], name: str | None = None, token: str | None = None,
                         tags: list[dict] | None = None, intent: str | None = None) -> ChangeSet:
        with self.lock:
            check_catalog(catalog)
            intent = intent or "APPLY"
            problems = request_problems(name, intent, changes)
            read = [read_change(index, raw, problems) for index, raw in enumerate(changes)]
            refuse(problems + repeated_changes(read))
            if token in self.change_sets_by_token:
                return self.change_sets[self.change_sets_by_token[token]]
            for change in read:
                self._product(change.product_id)
            self._refuse_locked(read)
            return self._create(read, name, token, tags or [], intent)

    def _refuse_locked(self, changes: list[Change]) -> None:
        """AWS: when a change set is running, all the entities targeted by its changes are locked
        until it has completed (succeeded, cancelled or failed)."""
        for entity_id in dict.fromkeys(change.product_id for change in changes):
            locking = [change_set.change_set_id for change_set in self.change_sets.values()
                       if change_set.in_flight and entity_id in change_set.entity_ids]
            if locking:
                raise ResourceInUseException("Requested change set has entities locked by change sets - entity: "
                                             f"'{entity_id}', change sets: '{','.join(locking)}'.")

    def _create(self, changes: list[Change], name: str | None, token: str | None, tags: list[dict],
                intent: str) -> ChangeSet:
        change_set_id = new_change_set_id()
        # AWS names an unnamed change set itself, in an undocumented form: here, by its id.
        change_set = ChangeSet(change_set_id=change_set_id, arn=self._arn(f"ChangeSet/{change_set_id}"),
                               name=name or change_set_id, intent=intent, start_time=self._now(), changes=changes,
                               sequence=next(self._sequence), tags=tags)
        for change in changes:
            if scripted := self.scripted_failures.pop(change.product_id, None):
                change.scripted.append(scripted)
        self.change_sets[change_set_id] = change_set
        if token:
            self.change_sets_by_token[token] = change_set_id
        return change_set

    def describe_change_set(self, catalog: str, change_set_id: str) -> ChangeSet:
        with self.lock:
            check_catalog(catalog)
            change_set = self._change_set(change_set_id)
            self._advance(change_set)
            return change_set

    def list_change_sets(self, catalog: str, filters: list[dict] | None = None, sort: dict | None = None,
                         max_results: int | None = None, next_token: str | None = None) -> tuple[list, str | None]:
        with self.lock:
            check_catalog(catalog)
            matches = [change_set_filter(raw) for raw in filters or []]
            found = [change_set for change_set in self.change_sets.values()
                     if all(match(change_set) for match in matches)]
            ordered = in_order(found, sort, CHANGE_SET_SORT_KEYS, "StartTime")
            page, token = one_page(ordered, max_results, next_token, most=20)
            return [change_set.summary() for change_set in page], token

    def cancel_change_set(self, catalog: str, change_set_id: str) -> ChangeSet:
        """The model: "Must be sent before the status of the request changes to APPLYING, the
        final stage of completing your change request." A change set APPLYING or ended is in
        use for good, hence ResourceInUseException (one of CancelChangeSet's modeled errors)."""
        with self.lock:
            check_catalog(catalog)
            change_set = self._change_set(change_set_id)
            if change_set.status == APPLYING:
                raise ResourceInUseException(f"Change set '{change_set_id}' is APPLYING and can no longer be "
                                             "cancelled: a change set is cancelled before it starts APPLYING.")
            if not change_set.in_flight:
                raise ResourceInUseException(f"Change set '{change_set_id}' has already ended "
                                             f"({change_set.status}) and cannot be cancelled.")
            self._end(change_set, CANCELLED)
            return change_set

    def describe_entity(self, catalog: str, entity_id: str) -> dict:
        with self.lock:
            check_catalog(catalog)
            return self._product(bare_id(entity_id)).description()

    def list_entities(self, catalog: str, entity_type: str, filters: list[dict] | None = None,
                      sort: dict | None = None, max_results: int | None = None, next_token: str | None = None,
                      ownership: str | None = None) -> tuple[list, str | None]:
        with self.lock:
            check_catalog(catalog)
            if entity_type not in (LISTED_ENTITY_TYPE, *OTHER_ENTITY_TYPES):
                refuse_field("EntityType", f"'{entity_type}' is not an entity type ListEntities lists")
            products = list(self.products.values()) if entity_type == LISTED_ENTITY_TYPE else []
            # Nothing is shared with an account through AWS RAM locally.
            products = [] if ownership == "SHARED" else products
            for raw in filters or []:
                name, values = filter_values(raw)
                if name != "EntityId":
                    refuse_field("FilterList", f"ListEntities filters by EntityId, not '{name}'")
                products = [product for product in products if product.product_id in values]
            ordered = in_order(products, sort, ENTITY_SORT_KEYS, "LastModifiedDate")
            page, token = one_page(ordered, max_results, next_token, most=50)
            return [product.summary() for product in page], token

    # The change set's life.

    def _now(self) -> str:
        when = self.clock() if self.clock is not None else None
        return timestamp(when) if when is not None else now()

    def _moves_on_at(self, change_set: ChangeSet) -> str | None:
        """When the change set moves on (its EndTime, if it ends): now, or when the gate says its
        time came; None: not yet (held, or its time has not come)."""
        if any(entity_id in self.held for entity_id in change_set.entity_ids):
            return None
        if self.gate is None:
            return now()
        when = self.gate(change_set)
        return timestamp(when) if when is not None else None

    def _advance(self, change_set: ChangeSet) -> None:
        moves_on_at = self._moves_on_at(change_set) if change_set.in_flight else None
        if moves_on_at is None:
            return
        if change_set.status == PREPARING:
            self._apply(change_set)
        elif any(change.findings or change.scripted for change in change_set.changes):
            self._fail(change_set, None, moves_on_at)
        else:
            self._succeed(change_set, moves_on_at)

    def _apply(self, change_set: ChangeSet) -> None:
        change_set.status = APPLYING
        for change in change_set.changes:
            change.findings = marketplace_findings(change, self.products[change.product_id])

    def _succeed(self, change_set: ChangeSet, at: str | None = None) -> None:
        ended = self._end(change_set, SUCCEEDED, at)
        if change_set.intent == "APPLY":
            for change in change_set.changes:
                product = self.products[change.product_id]
                product.versions.append(new_version(change, product, ended))
                product.last_modified = ended

    def _fail(self, change_set: ChangeSet, errors: list[dict] | None, at: str | None = None) -> None:
        for change in change_set.changes:
            change.errors = list(errors) if errors is not None else change.findings + change.scripted
        change_set.failure_code, change_set.failure_description = CLIENT_ERROR, FAILURE_DESCRIPTION
        self._end(change_set, FAILED, at)

    @staticmethod
    def _end(change_set: ChangeSet, status: str, at: str | None = None) -> str:
        """End the change set ``at`` its EndTime (None: now); its end time."""
        ended = at or now()
        change_set.status, change_set.end_time = status, ended
        return ended

    # What tests and the local runtime arrange (the module's public helpers).

    def add_product(self, product_id: str, title: str, visibility: str) -> None:
        with self.lock:
            if visibility not in VISIBILITIES:
                raise ValueError(f"visibility {visibility!r} is not one of {VISIBILITIES}")
            if product_id in self.products:
                raise ValueError(f"product {product_id} already exists in account {self.account_id}")
            self.products[product_id] = Product(product_id, title, visibility, self._arn(f"AmiProduct/{product_id}"),
                                                now(), next(self._sequence))

    def known_product(self, product_id: str) -> Product:
        if product_id not in self.products:
            raise ValueError(f"product {product_id} does not exist in account {self.account_id}: add_product first")
        return self.products[product_id]

    def steer(self, change_set_id: str, status: str, errors: list[tuple[str, str]] | None) -> None:
        with self.lock:
            change_set = self.change_sets.get(change_set_id)
            if change_set is None:
                raise ValueError(f"change set {change_set_id} does not exist in account {self.account_id}")
            if not change_set.in_flight:
                raise ValueError(f"change set {change_set_id} has ended ({change_set.status}) and stays so")
            if status == APPLYING and change_set.status == PREPARING:
                self._apply(change_set)
            elif status == SUCCEEDED:
                self._succeed(change_set)
            elif status == FAILED:
                self._fail(change_set, None if errors is None else [error_detail(*error) for error in errors])
            elif status == CANCELLED:
                self._end(change_set, CANCELLED)
            else:
                raise ValueError(f"cannot steer change set {change_set_id} from {change_set.status} to {status}")


marketplace_catalog_backends = BackendDict(MarketplaceCatalogBackend, SERVICE)

