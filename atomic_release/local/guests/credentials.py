"""The role credentials handed to guests, and the one registry both endpoints read: the metadata
server hands them out, the Step Functions endpoint checks signatures against them."""

import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# EC2 hands out role credentials valid for about six hours, and refreshes them before they end.
LIFETIME = timedelta(hours=6)
_KEY_ALPHABET = string.ascii_uppercase + string.digits


def iso_time(moment: datetime) -> str:
    """A UTC time as IMDS writes it: ``2026-12-04T19:08:15Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SessionCredentials:
    """Temporary credentials as STS makes them: an ``ASIA`` key, its secret and a session token."""

    access_key_id: str
    secret_access_key: str
    token: str
    expiration: datetime
    issued: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def generate(cls, lifetime: timedelta = LIFETIME) -> "SessionCredentials":
        now = datetime.now(UTC).replace(microsecond=0)
        return cls(access_key_id="ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
                   secret_access_key=secrets.token_urlsafe(30)[:40],
                   token=secrets.token_urlsafe(264),
                   expiration=now + lifetime, issued=now)

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expiration


class CredentialRegistry:
    """The credentials guests hold, by access key id; safe to share between server threads."""

    def __init__(self) -> None:
        self._by_key: dict[str, SessionCredentials] = {}
        self._lock = threading.Lock()

    def add(self, credentials: SessionCredentials) -> None:
        with self._lock:
            self._by_key[credentials.access_key_id] = credentials

    def remove(self, access_key_id: str) -> None:
        with self._lock:
            self._by_key.pop(access_key_id, None)

    def get(self, access_key_id: str) -> SessionCredentials | None:
        with self._lock:
            return self._by_key.get(access_key_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_key)
