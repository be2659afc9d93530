"""Downloadable disk images: what the builder makes of the disk that becomes the AMI, and where
each file lives in the metadata bucket.

The builder uploads each file privately under ``staging/<release id>/<arch>/``; Announce copies
it to ``streams/<stream>/builds/<version>/<ostree arch>/``, the public prefix, when the release
is published (with ``<file>.sig`` beside it where the stream signs its artifacts). Fedora
CoreOS names its platforms so: ``raw.xz`` is the ``metal`` platform, ``qcow2.xz`` the ``qemu`` one."""

from typing import Literal

from pydantic import Field

from chalicelib.core.arch import Arch, ostree_arch
from chalicelib.models.base import Model, Sha256

ArtifactFormat = Literal["raw.xz", "qcow2.xz"]
FORMATS: tuple[ArtifactFormat, ...] = ("raw.xz", "qcow2.xz")
PLATFORMS: dict[ArtifactFormat, str] = {"raw.xz": "metal", "qcow2.xz": "qemu"}
SIGNATURE_SUFFIX = ".sig"
SIGNING_KEY_NAME = "artifact-signing-key.asc"


class DiskArtifact(Model):
    """One compressed disk image as the builder reports it: its key in the metadata bucket, its
    size, the sha256 of the compressed file and of the disk it decompresses to."""

    format: ArtifactFormat
    key: str = Field(min_length=1)
    size: int = Field(ge=0)
    sha256: Sha256
    uncompressed_sha256: Sha256

    @property
    def platform(self) -> str:
        return PLATFORMS[self.format]


def staging_prefix(release_id: str, arch: Arch | None = None) -> str:
    """Where a release's builders upload, privately: nothing under it is ever served."""
    return f"staging/{release_id}/" + (f"{arch}/" if arch else "")


def builds_prefix(stream: str, version: str) -> str:
    """Where a published release's files are, under the public prefix."""
    return f"streams/{stream}/builds/{version}/"


def signing_key_key(stream: str) -> str:
    """Where the stream's artifact signing certificate is public (armored, the public key only):
    what ``gpg --import`` takes to verify the ``.sig`` files."""
    return f"streams/{stream}/{SIGNING_KEY_NAME}"


def file_name(osname: str, version: str, arch: Arch, artifact_format: ArtifactFormat) -> str:
    """As Fedora CoreOS names them: ``fedora-coreos-41.20250101.3.0-metal.x86_64.raw.xz``."""
    return f"{osname}-{version}-{PLATFORMS[artifact_format]}.{ostree_arch(arch)}.{artifact_format}"


def public_key(stream: str, osname: str, version: str, arch: Arch, artifact_format: ArtifactFormat) -> str:
    return f"{builds_prefix(stream, version)}{ostree_arch(arch)}/{file_name(osname, version, arch, artifact_format)}"
