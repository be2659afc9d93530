"""A stream as published, built with the document models (downloads included), for the site's
unit and browser tests: three releases, the newest partial (one region missing, which keeps
the previous release's image), x86_64's commit signed, aarch64's not checked."""

from chalicelib.core.arch import ARCHES, ostree_arch
from chalicelib.models.artifacts import FORMATS, PLATFORMS, SIGNATURE_SUFFIX, public_key
from chalicelib.models.documents import (
    UNSIGNED_ARTIFACTS,
    AtomicIndexRelease,
    AtomicRelease,
    AtomicReleaseArch,
    AtomicReleaseIndex,
    AtomicStream,
    AtomicStreamArch,
    CommitSignature,
)
from chalicelib.models.stream_metadata import (
    Artifact,
    CloudImage,
    ImageFormat,
    IndexMetadata,
    IndexReleaseCommit,
    Media,
    PlatformArtifacts,
    PlatformImages,
    ReplicatedImage,
    SingleImage,
    StreamMetadata,
)
from chalicelib.models.stream_metadata import Images as StreamImages
from chalicelib.site import Published

STREAM = "stable"
VERSIONS = ["43.20261101.3.0", "43.20261115.3.0", "43.20261201.3.0"]
CURRENT, PREVIOUS = VERSIONS[-1], VERSIONS[-2]
REGIONS = ["us-east-1", "us-east-2", "eu-west-1", "ap-southeast-2"]
MISSING = {"ap-southeast-2": "copy: CopyFailed: x86_64 to ap-southeast-2: ResourceLimitExceeded"}
SIGNER = "Atomic Release Signing Key <release@example.org>"
BASE_URL = "https://d111111abcdef8.cloudfront.net/"
SIGNED_COMMIT = CommitSignature(verified=True, signed_by=SIGNER, signers=[SIGNER], reason="")


def commit(version: str, arch: str) -> str:
    return f"{VERSIONS.index(version) + 1:02x}{ARCHES.index(arch) + 1:02x}".ljust(64, "c")  # type: ignore[arg-type]


def image_id(version: str, arch: str, region: str) -> str:
    return f"ami-{VERSIONS.index(version) + 1:02x}{ARCHES.index(arch) + 1:02x}{REGIONS.index(region) + 1:02x}".ljust(
        21, "0")  # type: ignore[arg-type]


def artifact(arch: str, fmt: str, signed: bool, base_url: str) -> Artifact:
    location = base_url + public_key(STREAM, "atomic", CURRENT, arch, fmt)  # type: ignore[arg-type]
    return Artifact(location=location, signature=location + SIGNATURE_SUFFIX if signed else None,
                    sha256=f"{fmt}{arch}".encode().hex().ljust(64, "a")[:64],
                    uncompressed_sha256=f"{arch}{fmt}".encode().hex().ljust(64, "b")[:64])


def regions_of(arch: str) -> dict[str, SingleImage]:
    """Every region names the current release's image, but the missing one keeps the previous."""
    return {region: SingleImage(release=PREVIOUS if region in MISSING else CURRENT,
                                image=image_id(PREVIOUS if region in MISSING else CURRENT, arch, region))
            for region in REGIONS}


ARTIFACT_SIGNER = "B0B0" * 10  # the fingerprint of the key that signs the downloads


def commit_time(version: str) -> str:
    i = VERSIONS.index(version)
    return f"2026-{11 + i // 2:02d}-{1 + 14 * (i % 2):02d}T08:00:00Z"


def stream(signed: bool = True, base_url: str = BASE_URL) -> AtomicStream:
    architectures = {ostree_arch(arch): AtomicStreamArch(
        artifacts={PLATFORMS[fmt]: PlatformArtifacts(release=CURRENT, formats={fmt: ImageFormat(
            disk=artifact(arch, fmt, signed, base_url))}) for fmt in FORMATS},
        images=StreamImages(aws=ReplicatedImage(regions=regions_of(arch))),
        artifacts_signature=None if signed else UNSIGNED_ARTIFACTS) for arch in ARCHES}
    return AtomicStream(stream=STREAM, metadata=StreamMetadata(last_modified="2026-12-01T10:00:00Z",
                                                               generator="atomic-release"), architectures=architectures)


def index(base_url: str = BASE_URL) -> AtomicReleaseIndex:
    return AtomicReleaseIndex(stream=STREAM, metadata=IndexMetadata(last_modified="2026-12-01T10:00:00Z"), releases=[
        AtomicIndexRelease(version=version, metadata=f"{base_url}streams/{STREAM}/releases/{version}.json",
                           commit_time=commit_time(version),
                           commits=[IndexReleaseCommit(architecture=ostree_arch(arch), checksum=commit(version, arch))
                                    for arch in ARCHES]) for version in VERSIONS])


def release(signed: bool = True) -> AtomicRelease:
    """x86_64's commit signed by SIGNER, aarch64's not checked."""
    return AtomicRelease(release=CURRENT, stream=STREAM, missing_regions=MISSING, architectures={
        ostree_arch(arch): AtomicReleaseArch(
            commit=commit(CURRENT, arch), commit_signature=SIGNED_COMMIT if arch == "x86_64" else None,
            artifacts_signature=None if signed else UNSIGNED_ARTIFACTS,
            artifacts_signed_by=ARTIFACT_SIGNER if signed else None,
            media=Media(aws=PlatformImages(images={region: CloudImage(image=image_id(CURRENT, arch, region))
                                                   for region in REGIONS if region not in MISSING})))
        for arch in ARCHES})


def published(signed: bool = True, base_url: str = BASE_URL) -> Published:
    return Published(stream=stream(signed, base_url), index=index(base_url), release=release(signed),
                     document_url=f"{base_url}streams/{STREAM}.json",
                     sizes={artifact("x86_64", "raw.xz", signed, base_url).location: 1_288_490_189})
