"""Reading a StartChangeSet request: every problem AWS refuses at once, as ValidationException."""

import json
import re

from atomic_release.local.marketplace_catalog.constants import CATALOG, CHANGE_TYPE, ENTITY_TYPE, INTENTS
from atomic_release.local.marketplace_catalog.entities import Change
from atomic_release.local.marketplace_catalog.exceptions import ChangeContext, Problem, refuse_field
from atomic_release.local.marketplace_catalog.shapes import ADD_DELIVERY_OPTIONS, shape_problems, shared_source_problems
from atomic_release.local.marketplace_catalog.utils import bare_id

CHANGE_SET_NAME = re.compile(r"^[\w\s+=.:@-]{1,100}$")


def check_catalog(catalog: str | None) -> None:
    # ValidationException rather than ResourceNotFoundException: the model documents Catalog as a
    # parameter with a fixed value (AWSMarketplace), so any other value is a malformed request.
    if catalog != CATALOG:
        refuse_field("Catalog", f"'{catalog}' is not a catalog: the only catalog is {CATALOG}")


def request_problems(name: str | None, intent: str, changes: list) -> list[Problem]:
    problems = []
    if name is not None and not CHANGE_SET_NAME.match(name):
        problems.append(Problem("ChangeSetName", r"must be 1 to 100 characters of [\w\s+=.:@-]"))
    if intent not in INTENTS:
        problems.append(Problem("Intent", f"must be one of {', '.join(INTENTS)}"))
    if not 1 <= len(changes) <= 20:
        problems.append(Problem("ChangeSet", "takes 1 to 20 changes"))
    return problems


def read_change(index: int, raw: dict, problems: list[Problem]) -> Change:
    """The change as this catalog keeps it; whatever is wrong with it goes to ``problems``."""
    entity = raw.get("Entity") or {}
    context = ChangeContext(index, entity.get("Type"), entity.get("Identifier"), raw.get("ChangeType"))
    found: list[tuple[str, str, str]] = []
    if context.change_type != CHANGE_TYPE:
        found.append(("ChangeType", f"the local catalog does not implement change type '{context.change_type}': "
                                    f"it implements {CHANGE_TYPE} only", "UnknownOperation"))
    if context.entity_type != ENTITY_TYPE:
        found.append(("Entity.Type", f"must be {ENTITY_TYPE}, the only entity type {CHANGE_TYPE} applies to",
                      "FieldValidationFailed"))
    if not context.entity_id:
        found.append(("Entity.Identifier", "required", "FieldValidationFailed"))
    details, sent = _read_details(raw, found)
    if details is not None and context.change_type == CHANGE_TYPE:
        key = next(iter(sent))
        document_problems = list(shape_problems(details, ADD_DELIVERY_OPTIONS, key))
        if not document_problems:
            document_problems = list(shared_source_problems(details, key))
        found += [(path, says, "FieldValidationFailed") for path, says in document_problems]
    problems += [Problem(path, says, context, reason) for path, says, reason in found]
    return Change(change_type=context.change_type, entity=dict(entity), product_id=bare_id(context.entity_id or ""),
                  details=details or {}, sent=sent, name=raw.get("ChangeName"))


def _read_details(raw: dict, found: list) -> tuple[dict | None, dict]:
    """The change's details, from exactly one of Details (a JSON string) and DetailsDocument."""
    has_string, has_document = raw.get("Details") is not None, raw.get("DetailsDocument") is not None
    if has_string and has_document:
        found.append(("DetailsDocument", "give Details or DetailsDocument, not both", "FieldValidationFailed"))
        return None, {}
    if has_document:
        return raw["DetailsDocument"], {"DetailsDocument": raw["DetailsDocument"]}
    if not has_string:
        found.append(("DetailsDocument", "required (or Details)", "FieldValidationFailed"))
        return None, {}
    try:
        return json.loads(raw["Details"]), {"Details": raw["Details"]}
    except ValueError as error:
        found.append(("Details", f"is not JSON: {error}", "CannotParse"))
        return None, {"Details": raw["Details"]}


def repeated_changes(changes: list[Change]) -> list[Problem]:
    """AWS: within a single change set, you can't start the same change type against the same
    entity multiple times."""
    problems: list[Problem] = []
    seen: dict[tuple[str | None, str], int] = {}
    for index, change in enumerate(changes):
        key = (change.change_type, change.product_id)
        if key in seen:
            context = ChangeContext(index, change.entity.get("Type"), change.entity.get("Identifier"),
                                    change.change_type)
            problems.append(Problem("ChangeType", f"{change.change_type} against entity '{change.product_id}' is "
                                                  f"already ChangeSet[{seen[key]}]: a change set runs a change type "
                                                  "once per entity", context))
        seen.setdefault(key, index)
    return problems

