"""The documents consumers read, typed as Fedora CoreOS's own Go library reads them
(github.com/coreos/stream-metadata-go): the stream (``stream.Stream``), the release index
(``release.Index``) and a release (``release.Release``).

Every field of the Go types is here, under its JSON name, and nothing else: a document this
project writes that the Go library would read differently fails here first. Dump with
``document(model)``, which leaves out what is unset as the Go types' ``omitempty`` does."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def document(model: BaseModel) -> dict[str, Any]:
    """The JSON object of a model, with the documents' own (hyphenated) names, absent fields left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


# -- what the stream and the release share -----------------------------------------------------------

class Artifact(_Document):
    """One file: where it is, its detached OpenPGP signature, and its sums."""

    location: str
    signature: str | None = None
    sha256: str
    uncompressed_sha256: str | None = Field(default=None, alias="uncompressed-sha256")


class ImageFormat(_Document):
    disk: Artifact | None = None
    kernel: Artifact | None = None
    initramfs: Artifact | None = None
    rootfs: Artifact | None = None


class ContainerImage(_Document):
    release: str | None = None  # the stream's has it; the release's does not
    image: str
    digest_ref: str | None = Field(default=None, alias="digest-ref")


class GcpImage(_Document):
    release: str | None = None
    project: str
    family: str | None = None
    name: str


# -- the stream: stream.Stream ---------------------------------------------------------------------

class StreamMetadata(_Document):
    last_modified: str = Field(alias="last-modified")
    generator: str | None = None


class PlatformArtifacts(_Document):
    release: str
    formats: dict[str, ImageFormat]


class SingleImage(_Document):
    release: str
    image: str


class ReplicatedImage(_Document):
    regions: dict[str, SingleImage] | None = None


class SingleObject(_Document):
    release: str
    object: str
    bucket: str
    url: str


class ReplicatedObject(_Document):
    regions: dict[str, SingleObject] | None = None


class Images(_Document):
    aliyun: ReplicatedImage | None = None
    aws: ReplicatedImage | None = None
    gcp: GcpImage | None = None
    ibmcloud: ReplicatedObject | None = None
    kubevirt: ContainerImage | None = None
    powervs: ReplicatedObject | None = None


class StreamArch(_Document):
    artifacts: dict[str, PlatformArtifacts] = Field(default_factory=dict)
    images: Images | None = None
    rhel_coreos_extensions: dict[str, Any] | None = Field(default=None, alias="rhel-coreos-extensions")


class Stream(_Document):
    """``streams/<stream>.json``: per architecture, the newest artifacts and cloud images."""

    stream: str
    metadata: StreamMetadata
    architectures: dict[str, StreamArch]


# -- the release index: release.Index --------------------------------------------------------------

class IndexMetadata(_Document):
    last_modified: str = Field(alias="last-modified")


class IndexReleaseCommit(_Document):
    architecture: str
    checksum: str


class IndexReleaseOciImage(ContainerImage):
    architecture: str


class IndexRelease(_Document):
    commits: list[IndexReleaseCommit] | None = None
    oci_images: list[IndexReleaseOciImage] | None = Field(default=None, alias="oci-images")
    version: str
    metadata: str = Field(description="the https URL of the release's document")


class ReleaseIndex(_Document):
    """``streams/<stream>/releases.json``: every release of the stream, oldest first."""

    note: str = ""
    releases: list[IndexRelease]
    metadata: IndexMetadata
    stream: str


# -- a release: release.Release --------------------------------------------------------------------

class CloudImage(_Document):
    image: str


class IBMCloudImage(_Document):
    object: str
    bucket: str
    url: str


class PlatformBase(_Document):
    artifacts: dict[str, ImageFormat] = Field(default_factory=dict)


class PlatformImages(PlatformBase):
    images: dict[str, CloudImage] | None = None


class PlatformGcp(PlatformBase):
    image: GcpImage | None = None


class PlatformIBMCloud(PlatformBase):
    images: dict[str, IBMCloudImage] | None = None


class PlatformKubeVirt(PlatformBase):
    image: ContainerImage | None = None


class Media(_Document):
    aliyun: PlatformImages | None = None
    applehv: PlatformBase | None = None
    aws: PlatformImages | None = None
    azure: PlatformBase | None = None
    azurestack: PlatformBase | None = None
    digitalocean: PlatformBase | None = None
    exoscale: PlatformBase | None = None
    gcp: PlatformGcp | None = None
    hetzner: PlatformBase | None = None
    hyperv: PlatformBase | None = None
    ibmcloud: PlatformIBMCloud | None = None
    kubevirt: PlatformKubeVirt | None = None
    metal: PlatformBase | None = None
    nutanix: PlatformBase | None = None
    nvidiabluefield: PlatformBase | None = None
    openstack: PlatformBase | None = None
    oraclecloud: PlatformBase | None = None
    powervs: PlatformIBMCloud | None = None
    proxmoxve: PlatformBase | None = None
    qemu: PlatformBase | None = None
    qemu_secex: PlatformBase | None = Field(default=None, alias="qemu-secex")
    virtualbox: PlatformBase | None = None
    vmware: PlatformBase | None = None
    vultr: PlatformBase | None = None


class ReleaseArch(_Document):
    commit: str | None = None
    oci_image: ContainerImage | None = Field(default=None, alias="oci-image")
    media: Media
    rhel_coreos_extensions: dict[str, Any] | None = Field(default=None, alias="rhel-coreos-extensions")


class ReleaseMetadata(_Document):
    last_modified: str = Field(alias="last-modified")


class Release(_Document):
    """``streams/<stream>/releases/<version>.json``: one release's commits, images and files."""

    release: str
    stream: str
    metadata: ReleaseMetadata | None = None
    architectures: dict[str, ReleaseArch]
