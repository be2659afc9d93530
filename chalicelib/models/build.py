"""The Build stage, per architecture: its tasks (builder, image, QA, verdict, cleanup), the
reports its guests send, and the images it builds."""

from pydantic import Field, RootModel

from chalicelib.core.arch import Arch
from chalicelib.models.artifacts import DiskArtifact
from chalicelib.models.base import Model
from chalicelib.models.failure import Caught, CaughtInStage, ErrorToRaise, Failure
from chalicelib.models.release import ArchCommit


class ArchTask(Model):
    """One architecture's share of a release: the Build map's item."""

    release_id: str
    stream: str
    version: str
    arch: Arch
    commit: ArchCommit
    region: str


class CallbackTask(ArchTask):
    task_token: str = Field(min_length=1)


class LaunchedGuest(Model):
    """A guest launched for a callback task; the task's result is the report the guest sends."""

    instance_id: str


class BuilderReport(Model):
    """What the builder guest sends through its task token."""

    instance_id: str = Field(pattern=r"^i-[0-9a-f]+$")
    volume_id: str = Field(pattern=r"^vol-[0-9a-f]+$")
    commit: str
    artifacts: list[DiskArtifact] = Field(default_factory=list, description="the disk's downloadable images, "
                                                                             "uploaded to the staging prefix")


class RegisterTask(ArchTask):
    builder: BuilderReport


class BuiltImage(Model):
    arch: Arch
    image_id: str
    snapshot_id: str
    name: str
    artifacts: list[DiskArtifact] | None = Field(default=None, description="None in records made before images "
                                                                           "were downloadable")


def image_description(stream: str, version: str, arch: Arch, checksum: str) -> str:
    """Every image of a release, in the base region and each copy, names its ostree commit."""
    return f"{stream} {version} {arch} (ostree {checksum})"


class BuiltImages(RootModel[list[BuiltImage]]):
    """Every architecture's image, once the Build map has ended."""


class QATask(CallbackTask):
    image: BuiltImage


class QACheck(Model):
    name: str
    passed: bool
    expected: str = ""
    actual: str = ""


class QAReport(Model):
    instance_id: str
    checks: list[QACheck] = Field(min_length=1)


class EvaluateTask(ArchTask):
    image: BuiltImage
    qa: QAReport


class CleanupArchTask(ArchTask):
    stage: str
    caught: Caught

    @property
    def failure(self) -> Failure:
        return self.caught.in_stage(self.stage, self.arch)


class ArchOutcome(Model):
    """A Build map iteration's result: the image, or what failed: CleanupArch's error to raise,
    or, when CleanupArch failed itself, the stage's own failure as caught."""

    arch: Arch
    image_id: str | None = None
    snapshot_id: str | None = None
    name: str | None = None
    artifacts: list[DiskArtifact] | None = None
    failed: ErrorToRaise | CaughtInStage | None = None


class CheckBuildTask(Model):
    release_id: str
    results: list[ArchOutcome] = Field(min_length=1)
