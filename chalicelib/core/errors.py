"""Domain errors, in families. A class name is the error name the release state machine's Retry
and Catch match on, so renaming a class is a change of the ASL contract.

- ``Retryable``: the state machine retries the task (its Retry names exactly these).
- ``StageFailure``: a stage could not do its work; the state machine's Catch fails the release
  (or the architecture) and cleans up.
- ``Refusal``: what was asked cannot be done as asked; each carries the HTTP status the API and
  the webhook answer it with.
- ``SettingsError``: the function's environment lacks what the stack sets: the deployment's
  fault, not the release's.

Every error keeps its sentence (``str(error)``) and carries, as fields, the region,
architecture, image and release it is about, where it has them."""

from http import HTTPStatus
from typing import ClassVar


class ReleaseError(Exception):
    """Base of every error the pipeline raises on purpose."""

    def __init__(self, message: str, *, region: str | None = None, arch: str | None = None,
                 image_id: str | None = None, release_id: str | None = None):
        super().__init__(message)
        self.region, self.arch, self.image_id, self.release_id = region, arch, image_id, release_id

    @property
    def context(self) -> dict[str, str]:
        """The fields it has, for a log line."""
        fields = {"region": self.region, "arch": self.arch, "image_id": self.image_id, "release_id": self.release_id}
        return {name: value for name, value in fields.items() if value is not None}


# -- the families ------------------------------------------------------------------------------

class Retryable(ReleaseError):
    """A task that may succeed when run again: the state machine's Retry names each of these."""


class StageFailure(ReleaseError):
    """A stage could not do its work; the release (or the architecture) fails with this error."""


class Refusal(ReleaseError):
    """A request or an input that cannot be carried out as asked; ``status`` is the HTTP answer."""

    status: ClassVar[int]


class SettingsError(ReleaseError):
    """The function's environment lacks a variable the stack sets, or holds a wrong value."""


class PartlyFailed(ReleaseError):
    """A scheduled run handled every stream (or region), and some failed: the Lambda fails,
    naming each and why, so that its Errors alarm fires."""


# -- retryable ---------------------------------------------------------------------------------

class ResourceNotReady(Retryable):
    """A snapshot, volume or image did not reach its state within one task; the state
    machine retries the task."""


class CopyThrottled(Retryable):
    """EC2 refused a copy for now (request rate, or too many copies in flight to the region);
    the state machine retries the task with back-off."""


class MarketplaceThrottled(Retryable):
    """The Marketplace Catalog API asked to slow down or failed on its side; the state machine
    retries the task with back-off."""


# -- stage failures ----------------------------------------------------------------------------

class ReleaseExists(StageFailure):
    """The release record exists and belongs to another execution."""


class BuilderLaunchFailed(StageFailure):
    """No builder or QA instance could be launched."""


class ImageRegistrationFailed(StageFailure):
    """The builder's disk could not be turned into an image."""


class ArchitectureFailed(StageFailure):
    """An architecture of the release failed (and was cleaned up); the message is its failure."""


class ImageNameTaken(StageFailure):
    """An image of the release's name exists and belongs to another release."""


class QAFailed(StageFailure):
    """The QA instance reported failed checks."""


class CopyFailed(StageFailure):
    """An image could not be copied to a region."""


class PublishFailed(StageFailure):
    """An image could not be made public or recorded in SSM."""


class AnnounceFailed(StageFailure):
    """Stream metadata or the release notification could not be written."""


class AnnouncedThenFailed(StageFailure):
    """The stream metadata names the release, and a later step of Announce (``latest``, the
    notifications) failed: the release is out, so it is recorded published with errors, never
    failed, and nothing it published is removed."""


class NothingPublished(StageFailure):
    """No region of the release was published and validated."""


# -- refusals ----------------------------------------------------------------------------------

class BadRequest(Refusal, ValueError):
    """A request's field is malformed or names nothing that exists; the message names the field."""

    status = HTTPStatus.BAD_REQUEST


class ReleaseNotFound(Refusal):
    """No release of that id is recorded."""

    status = HTTPStatus.NOT_FOUND


class StreamNotFound(Refusal):
    """No stream of that name is configured."""

    status = HTTPStatus.NOT_FOUND


class ReleaseNotRetryable(Refusal):
    """A retry was asked for a release that is running, complete, or has nothing to fill in."""

    status = HTTPStatus.CONFLICT


class ReleaseNotRunning(Refusal):
    """An abort was asked for a release whose execution is not running."""

    status = HTTPStatus.CONFLICT


class ReleaseNotPartial(Refusal):
    """A fill-in run was asked for a release that is not partial, or by a stale attempt."""

    status = HTTPStatus.CONFLICT


class VersionTaken(Refusal):
    """A version asked for was released from other commits: its images' names are taken."""

    status = HTTPStatus.CONFLICT


class ConfigError(Refusal):
    """The stream configuration is invalid or names an unknown stream."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class InvalidReleaseInput(Refusal):
    """A release input or task input failed validation."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class VersionNotFound(Refusal):
    """A version asked for is not on the stream's refs within the history looked at."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class NotTheHead(Refusal):
    """An announced commit is not what its ref points at in the repository."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class UntrustedCommit(Refusal):
    """A commit (or the summary naming it) is not signed by a key its stream trusts."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class UnreadableSignatures(UntrustedCommit):
    """Detached metadata that does not hold OpenPGP signatures in ostree's form."""


class OstreeError(Refusal):
    """Reading an ostree repository failed: the request depends on it (a bad gateway)."""

    status = HTTPStatus.BAD_GATEWAY


class RepositoryUnreachable(OstreeError):
    """The repository did not answer, or answered with a server error."""


class UnknownRef(OstreeError):
    """The repository has no such ref: the caller named it, and can fix it."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class CorruptObject(OstreeError):
    """An object's content does not match its checksum, or does not parse."""


class UnsupportedFormat(OstreeError):
    """The repository or an object is in a form this reader does not read."""
