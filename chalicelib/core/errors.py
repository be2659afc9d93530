"""Domain errors. A class name is the error name the release state machine's Retry and
Catch match on, so renaming a class is a change of the ASL contract."""


class ReleaseError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigError(ReleaseError):
    """The stream configuration is invalid or names an unknown stream."""


class InvalidReleaseInput(ReleaseError):
    """A release input or task input failed validation."""


class ReleaseExists(ReleaseError):
    """The release record exists and belongs to another execution."""


class BuilderLaunchFailed(ReleaseError):
    """No builder or QA instance could be launched."""


class ImageRegistrationFailed(ReleaseError):
    """The builder's disk could not be turned into an image."""


class ResourceNotReady(ReleaseError):
    """A snapshot, volume or image did not reach its state within one task; the state
    machine retries the task."""


class ArchitectureFailed(ReleaseError):
    """An architecture of the release failed (and was cleaned up); the message is its failure."""


class ImageNameTaken(ReleaseError):
    """An image of the release's name exists and belongs to another release."""


class QAFailed(ReleaseError):
    """The QA instance reported failed checks."""


class CopyFailed(ReleaseError):
    """An image could not be copied to a region."""


class PublishFailed(ReleaseError):
    """An image could not be made public or recorded in SSM."""


class AnnounceFailed(ReleaseError):
    """Stream metadata or the release notification could not be written."""


class CopyThrottled(ReleaseError):
    """EC2 refused a copy for now (request rate, or too many copies in flight to the region);
    the state machine retries the task with back-off."""


class NothingPublished(ReleaseError):
    """No region of the release was published and validated."""


class ReleaseNotPartial(ReleaseError):
    """A fill-in run was asked for a release that is not partial, or by a stale attempt."""


class MarketplaceThrottled(ReleaseError):
    """The Marketplace Catalog API asked to slow down or failed on its side; the state machine
    retries the task with back-off."""


class ReleaseNotFound(ReleaseError):
    """No release of that id is recorded."""


class ReleaseNotRetryable(ReleaseError):
    """A retry was asked for a release that is running, complete, or has nothing to fill in."""


class ReleaseNotRunning(ReleaseError):
    """An abort was asked for a release whose execution is not running."""


class VersionTaken(ReleaseError):
    """A version asked for was released from other commits: its images' names are taken."""


class VersionNotFound(ReleaseError):
    """A version asked for is not on the stream's refs within the history looked at."""
