"""What time it is, for the task decisions that depend on it (when a copy was requested, when
the copies are next followed). Deployed, the system's clock; the local runtime's virtual clock
may answer instead, for the task it is running (atomic_release/local/virtual_clock.py)."""

from collections.abc import Callable
from datetime import UTC, datetime

_override: Callable[[], datetime | None] = lambda: None


def now() -> datetime:
    return _override() or datetime.now(UTC)


def answered_by(override: Callable[[], datetime | None] | None) -> None:
    """``override`` answers first (None from it: the system's clock); None: the system's clock only."""
    global _override
    _override = override or (lambda: None)
