"""Just enough of IAM's policy evaluation for the policy files: Allow and Deny statements, their
Action and Resource with IAM's wildcards, and the condition operators the files use. An operator
it does not know is an error, never a pass."""

import functools
import re
from dataclasses import dataclass

from tests.infra.policies import as_list, statements


@dataclass(frozen=True)
class Requirement:
    """One authorization a call needs: an action on a resource ("*" for an action that takes no
    resource), and the condition keys the request sets, as ``((key, (value, ...)), ...)``."""

    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The resource was gone before the call: it has no tags, so a tag condition cannot hold
    # (AWS refuses such a call as unauthorized, before it could say not found).
    resource_gone: bool = False

    @classmethod
    def of(cls, action: str, resource: str, context: dict[str, list[str]] | None = None,
           resource_gone: bool = False) -> "Requirement":
        keys = tuple(sorted((key, tuple(values)) for key, values in (context or {}).items()))
        return cls(action, resource, keys, resource_gone)

    @property
    def keys(self) -> dict[str, tuple[str, ...]]:
        return dict(self.context)

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    why: str


@functools.lru_cache(maxsize=4096)
def _pattern(wildcard: str, ignore_case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wildcard)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(wildcard: str, value: str, ignore_case: bool = False) -> bool:
    return _pattern(wildcard, ignore_case).fullmatch(value) is not None


def _applies(statement: dict, requirement: Requirement) -> bool:
    return (any(matches(action, requirement.action, ignore_case=True) for action in as_list(statement["Action"]))
            and any(matches(resource, requirement.resource) for resource in as_list(statement["Resource"])))


def _unmet(operator: str, key: str, expected: list[str], requirement: Requirement) -> str | None:
    """Why the condition does not hold for the request, or None when it holds."""
    actual = requirement.keys.get(key)
    if operator == "Null":
        present = actual is not None
        return None if present == (expected == ["false"]) else f"{key} is {'set' if present else 'absent'}"
    set_operator, _, string_operator = operator.rpartition(":")
    if string_operator not in ("StringEquals", "StringLike"):
        raise ValueError(f"condition operator {operator} is not modelled here")
    if string_operator == "StringEquals":
        def fits(value):
            return value in expected
    else:
        def fits(value):
            return any(matches(pattern, value) for pattern in expected)
    if set_operator == "ForAllValues":
        return None if actual is None or all(map(fits, actual)) else f"{key} is {list(actual)}, not all in {expected}"
    if set_operator:
        raise ValueError(f"condition operator {operator} is not modelled here")
    if actual is None:
        return f"{key} is absent"
    return None if any(map(fits, actual)) else f"{key} is {list(actual)}, not {expected}"


def unmet_conditions(statement: dict, requirement: Requirement) -> list[str]:
    return [why for operator, keys in statement.get("Condition", {}).items() for key, expected in keys.items()
            if (why := _unmet(operator, key, as_list(expected), requirement))]


def decide(policy: dict, requirement: Requirement) -> Verdict:
    """Allowed when an Allow statement applies with its conditions met and no Deny statement does."""
    applying = [s for s in statements(policy) if _applies(s, requirement)]
    for statement in (s for s in applying if s["Effect"] == "Deny"):
        if not unmet_conditions(statement, requirement):
            return Verdict(False, f"denied by {statement.get('Sid')}")
    refusals = []
    for statement in (s for s in applying if s["Effect"] == "Allow"):
        unmet = unmet_conditions(statement, requirement)
        if not unmet:
            return Verdict(True, f"allowed by {statement.get('Sid')}")
        refusals.append(f"{statement.get('Sid')} applies but {'; '.join(unmet)}")
    return Verdict(False, "; ".join(refusals) or "no statement allows it")
