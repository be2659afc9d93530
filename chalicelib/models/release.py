"""What starts a release: a stream, a version and per architecture the commit to ship; the
names of its runs; and Prepare's plan of its architectures, which later tasks carry."""

import hashlib
import re
from datetime import datetime
from typing import Literal

from pydantic import Field

from chalicelib.core.arch import Arch
from chalicelib.core.config import Stream
from chalicelib.core.errors import InvalidReleaseInput
from chalicelib.core.regions import is_supported, unsupported_reason
from chalicelib.models.base import Model, Sha256
from chalicelib.models.signature import SignatureCheck

EXECUTION_NAME_MAX = 80
_HASH_LEN = 12
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ArchCommit(Model):
    ref: str = Field(min_length=1, max_length=255)
    checksum: Sha256 = Field(description="the ostree commit checksum: 64 lowercase hex digits")
    timestamp: datetime
    signature: SignatureCheck | None = Field(default=None, description="what detection found of the commit's "
                                                                       "signatures; None: not checked")


class ReleaseInput(Model):
    """What starts a release: a stream, a version and per architecture the commit to ship."""

    stream: str = Field(min_length=1)
    version: str = Field(pattern=VERSION_PATTERN)
    commits: dict[Arch, ArchCommit] = Field(min_length=1)
    trigger: Literal["cli", "api", "webhook", "poller", "event", "schedule", "retry"] = "cli"
    regions: list[str] | None = Field(
        default=None, description="base region then copy targets, instead of the stream's own list"
    )
    missing_arches: list[Arch] = Field(default_factory=list, description="architectures the stream builds that "
                                                                          "this release goes without")
    attempt: int = Field(default=0, ge=0, description="0: the release itself; N: its N-th fill-in run, which "
                                                      "distributes the images already built to the regions missing")
    rerun: int = Field(default=0, ge=0, description="N: the N-th run of a release that failed, from the start")

    @property
    def release_id(self) -> str:
        return execution_name(self.stream, self.version, {a: c.checksum for a, c in self.commits.items()})

    @property
    def execution_name(self) -> str:
        """The release id, and for a fill-in run or a rerun the id with its number: each run is
        an execution of its own, and two requests for the same run start one."""
        return run_name(self.release_id, self.attempt, self.rerun)

    def check_against(self, stream: Stream) -> None:
        """Raise InvalidReleaseInput unless every architecture and ref is one the stream builds."""
        problems = []
        for arch, commit in self.commits.items():
            if arch not in stream.refs:
                problems.append(f"commits.{arch}: stream {stream.name!r} does not build {arch}")
            elif commit.ref != stream.refs[arch]:
                problems.append(f"commits.{arch}.ref: {commit.ref!r} is not the stream's ref {stream.refs[arch]!r}")
        for arch in self.missing_arches:
            if arch in self.commits or arch not in stream.refs:
                problems.append(f"missing_arches: {arch} is {'in commits' if arch in self.commits else 'not built'}")
        if self.regions is not None:
            if not self.regions or self.regions[0] != stream.regions.base:
                problems.append(f"regions: must start with the stream's base region {stream.regions.base!r}")
            if len(set(self.regions)) != len(self.regions):
                problems.append("regions: a region is listed twice")
            problems.extend(f"regions: {unsupported_reason(r)}" for r in self.regions if not is_supported(r))
        if problems:
            raise InvalidReleaseInput("; ".join(problems))

    def regions_for(self, stream: Stream) -> list[str]:
        return list(self.regions) if self.regions else stream.regions.all


def run_name(release_id: str, attempt: int = 0, rerun: int = 0) -> str:
    """The execution name of one run of a release: the release, its N-th fill-in run or rerun."""
    if not (attempt or rerun):
        return release_id
    suffix = f"-fill{attempt}" if attempt else f"-retry{rerun}"
    return release_id[: EXECUTION_NAME_MAX - len(suffix)] + suffix


def execution_name(stream: str, version: str, checksums: dict[str, str]) -> str:
    """``<stream>-<version>-<hash of the checksums>``, within Step Functions' name rules.

    The same stream, version and commits always give the same name, so Step Functions itself
    refuses a second release of them for 90 days; the release record refuses it after that.
    """
    digest = hashlib.sha256(
        "\n".join(f"{arch}={checksums[arch]}" for arch in sorted(checksums)).encode()
    ).hexdigest()[:_HASH_LEN]
    room = EXECUTION_NAME_MAX - len(stream) - len(digest) - 2
    safe_version = re.sub(r"[^A-Za-z0-9_-]", "_", version)[:room]
    return f"{stream}-{safe_version}-{digest}"


class PlannedArch(Model):
    """One architecture of Prepare's plan with its commit: an item of the Build map."""

    arch: Arch
    commit: ArchCommit


class PlannedArches(Model):
    arches: list[PlannedArch] = Field(min_length=1, description="Prepare's plan: each arch with its commit")

    @property
    def commits(self) -> dict[Arch, ArchCommit]:
        return {planned.arch: planned.commit for planned in self.arches}
