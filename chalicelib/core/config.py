"""Stream configuration: which ostree refs become which AMIs, where, and under what names."""

import functools
import ipaddress
import json
import os
import re
import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from chalicelib.core.arch import ARCHES, Arch
from chalicelib.core.errors import ConfigError
from chalicelib.core.regions import refuse_unsupported
from chalicelib.core.settings import locations
from chalicelib.core.tags import user_tag_problems
from chalicelib.core.trusted_keys import Trust, read_key

DEFAULT_CONFIG = Path(__file__).parents[1] / "streams.json"
_AMI_NAME = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$")
_NAME_FIELDS = {"stream", "version", "arch"}
MARKETPLACE_REGION = "us-east-1"  # the one region of the Marketplace Catalog API
# The builder carries a stream's keys in its user-data, which EC2 limits to 16 KB (the script and
# the keys, compressed): two RSA-4096 keys take about 6,300 characters.
TRUSTED_KEYS_BUDGET = 9_000


def placeholders(template: str, allowed: set[str]) -> set[str]:
    """The ``{name}`` placeholders of a template; ValueError naming any not allowed."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if unknown := fields - allowed:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return fields


class Regions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str = Field(description="where images are built and registered")
    copies: list[str] = Field(default_factory=list, description="regions the images are copied to")

    @model_validator(mode="after")
    def _known_and_distinct(self) -> "Regions":
        refuse_unsupported([self.base, *self.copies])
        if self.base in self.copies:
            raise ValueError(f"the base region {self.base!r} is listed again among the copies")
        if len(set(self.copies)) != len(self.copies):
            raise ValueError("a copy region is listed twice")
        return self

    @property
    def all(self) -> list[str]:
        return [self.base, *self.copies]


class Retention(BaseModel):
    """Which releases keep their images: the newest ``keep_releases``, and any younger than
    ``keep_months``. Images the stream metadata names are kept whatever their age."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_releases: int = Field(default=6, ge=1)
    keep_months: int = Field(default=24, ge=0)


_NOTES_FIELDS = {"stream", "version", "arch", "ref", "checksum", "committed"}

AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
OrganizationArn = Annotated[str, Field(pattern=r"^arn:aws:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$")]
OrganizationalUnitArn = Annotated[str, Field(
    pattern=r"^arn:aws:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$")]


class Sharing(BaseModel):
    """Who may launch the stream's images: the public, and (instead or as well) these accounts,
    organizations and organizational units. Snapshots are shared with the accounts (and the public)
    only: AWS shares a snapshot with no organization or OU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public: bool = Field(default=True, description="false: only those listed may launch the images")
    accounts: list[AccountId] = Field(default_factory=list, description="12-digit AWS account ids")
    organizations: list[OrganizationArn] = Field(default_factory=list)
    organizational_units: list[OrganizationalUnitArn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone(self) -> "Sharing":
        if not self.public and not self.targets:
            raise ValueError("public is false and no account, organization or organizational unit is listed: "
                             "no one could launch the images")
        for field in ("accounts", "organizations", "organizational_units"):
            if len(set(getattr(self, field))) != len(getattr(self, field)):
                raise ValueError(f"{field} lists one twice")
        return self

    @property
    def targets(self) -> list[dict[str, str]]:
        """ModifyImageAttribute's launch permissions for those listed (the public not among them)."""
        return ([{"UserId": account} for account in self.accounts]
                + [{"OrganizationArn": arn} for arn in self.organizations]
                + [{"OrganizationalUnitArn": arn} for arn in self.organizational_units])

    @property
    def launch_permissions(self) -> list[dict[str, str]]:
        return [*self.targets, *([{"Group": "all"}] if self.public else [])]

    @property
    def volume_permissions(self) -> list[dict[str, str]]:
        """CreateVolumePermission entries of the snapshots (UserId and Group are all AWS takes)."""
        return [p for p in self.launch_permissions if p.keys() & {"UserId", "Group"}]


class SecurityGroupRule(BaseModel):
    """An inbound rule Marketplace recommends to buyers of the product."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ip_protocol: Literal["tcp", "udp"] = "tcp"
    from_port: int = Field(ge=1, le=65535)
    to_port: int = Field(ge=1, le=65535)
    ip_ranges: list[str] = Field(min_length=1, max_length=5)

    @field_validator("ip_ranges")
    @classmethod
    def _cidrs(cls, ranges: list[str]) -> list[str]:
        for cidr in ranges:
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR block") from None
            if "/" not in cidr:
                raise ValueError(f"{cidr!r} lacks its prefix length (Marketplace takes CIDR blocks only)")
        return ranges

    @model_validator(mode="after")
    def _ordered(self) -> "SecurityGroupRule":
        if self.from_port > self.to_port:
            raise ValueError(f"from_port {self.from_port} is above to_port {self.to_port}")
        return self


class MarketplaceProduct(BaseModel):
    """One architecture's AWS Marketplace AMI product and the delivery details of its versions.
    The limits are those of Marketplace's AddDeliveryOptions change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: str = Field(pattern=r"^prod-[A-Za-z0-9]+$")
    access_role_arn: str = Field(
        pattern=r"^arn:aws:iam::(\d{12}|\{account\}):role/[A-Za-z0-9+=,.@_/-]+$",
        description="the role Marketplace assumes to copy the image; {account}: the account releasing")
    user_name: str = Field(default="core", max_length=100, pattern=r"^[\w-]+$")
    operating_system_name: str = Field(min_length=1, max_length=100, pattern=r"^\S",
                                       description="one of Marketplace's own operating system names, as the "
                                                   "product lists it")
    operating_system_version: str = Field(min_length=1, max_length=100, pattern=r"^\S")
    scanning_port: int = Field(default=22, ge=1, le=65535)
    usage_instructions: str = Field(min_length=1, max_length=4000, pattern=r"^\S")
    recommended_instance_type: str = Field(pattern=r"^\S{1,24}$")
    security_groups: list[SecurityGroupRule] = Field(min_length=1, max_length=25)

    def role_arn(self, account: str) -> str:
        return self.access_role_arn.replace("{account}", account)


class Marketplace(BaseModel):
    """Whether and how each release becomes a new version of the stream's Marketplace products."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    publish: bool = False
    intent: Literal["APPLY", "VALIDATE"] = Field(
        default="APPLY", description="VALIDATE: a dry run; Marketplace checks the change and creates no version")
    products: dict[Arch, MarketplaceProduct] = Field(default_factory=dict)
    release_notes: str = Field(
        default="{stream} {version} for {arch}: ostree commit {checksum} of {ref}, committed {committed}.",
        max_length=2000, description="placeholders: " + ", ".join(sorted(_NOTES_FIELDS)))
    check_every_minutes: int = Field(default=10, ge=1, le=60)
    give_up_after_hours: int = Field(default=8, ge=1, le=20, description="how long a release follows its change "
                                                                         "sets (an execution lasts 24 h at most)")

    @field_validator("release_notes")
    @classmethod
    def _known_placeholders(cls, template: str) -> str:
        placeholders(template, _NOTES_FIELDS)
        if not template.strip():
            raise ValueError("must not be blank")
        return template

    @model_validator(mode="after")
    def _products_to_publish(self) -> "Marketplace":
        if self.publish and not self.products:
            raise ValueError("publish is true but no product is configured")
        ids = [product.product_id for product in self.products.values()]
        if len(set(ids)) != len(ids):
            raise ValueError("two architectures name the same product: a version has one AMI")
        return self


class Signatures(BaseModel):
    """Whose OpenPGP signatures a stream's commits need before they are released."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = Field(default=True, description="false: unsigned or untrusted commits are released too, "
                                                     "and their release record says so")
    keys: list[str] = Field(default_factory=list, description="ASCII-armored OpenPGP public keys trusted to sign")
    _trust: Trust = PrivateAttr(default_factory=Trust)

    @model_validator(mode="after")
    def _keys_read(self) -> "Signatures":
        trusted = []
        for number, armored in enumerate(self.keys):
            try:
                trusted.append(read_key(armored))
            except ValueError as error:
                raise ValueError(f"keys[{number}] {error}") from None
        if self.required and not trusted:
            raise ValueError("required signatures need at least one key in keys (or required: false)")
        if (size := sum(map(len, self.keys))) > TRUSTED_KEYS_BUDGET:
            raise ValueError(f"the keys take {size} characters, more than the {TRUSTED_KEYS_BUDGET} a builder's "
                             "user-data has room for (EC2 takes 16 KB): trust fewer keys")
        self._trust = Trust(tuple(trusted))
        return self

    @property
    def trust(self) -> Trust:
        return self._trust


class Stream(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    cadence: Literal["biweekly", "every-commit"]
    repo_url: str = Field(pattern=r"^https?://\S+$")
    refs: dict[Arch, str] = Field(min_length=1, description="one ostree ref per EC2 architecture")
    regions: Regions
    signatures: Signatures = Field(description="the keys that sign the stream's commits, and whether only "
                                               "commits they signed are released")
    instance_types: dict[Arch, list[str]]
    builder_image_parameter: dict[Arch, str] = Field(description="SSM parameter naming the builder's AMI")
    subnets: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        default_factory=list, description="base-region subnets, one per availability zone to try; none: the "
                                          "default VPC's choice")
    disk_size_gib: int = Field(default=10, ge=4, le=1024)
    install_method: Literal["ostree", "bootc"] = Field(
        default="ostree", description="how the builder writes the commit: ostree deployment, or bootc install to-disk")
    container_image: str | None = Field(default=None, description="bootc: the image carrying the commit")
    osname: str = Field(default="fedora-coreos", pattern=r"^[a-z][a-z0-9-]{0,62}$", description="ostree stateroot")
    kernel_arguments: list[Annotated[str, Field(pattern=r"^[^\s'\"]+$")]] = Field(
        default_factory=lambda: ["console=tty0", "console=ttyS0,115200n8"],
        description="appended to the deployment's kernel command line (root and rw come first)")
    artifact_signing_key_secret: str | None = Field(
        default=None, pattern=r"^atomic-release/artifact-signing/[A-Za-z0-9/_+=.@-]{1,200}$",
        description="the Secrets Manager secret holding the ASCII-armored OpenPGP secret key that signs the "
                    "stream's downloadable images; None: they are published unsigned, and the documents say so")
    qa_user_data: Literal["ignition", "cloud-init"] = Field(
        default="ignition", description="the form of user-data the new image reads on first boot")
    ami_name_pattern: str = "{stream}-{version}-{arch}"
    ssm_prefix: str = Field(default="/atomic-release", pattern=r"^(/[A-Za-z0-9_.-]+)+$")
    deprecate_after_days: int = Field(default=730, ge=1, le=730, description="public images are deprecated this "
                                                                            "many days after their creation (AWS "
                                                                            "allows public images at most 2 years)")
    copy_concurrency: int = Field(default=10, ge=1, le=40, description="regions whose copies are requested at once")
    copies_in_flight_per_region: int = Field(
        default=10, ge=1, le=20, description="at most this many of the account's copies pending in one destination "
                                             "region (AWS allows 20) before a copy waits")
    retention: Retention = Field(default_factory=lambda: Retention())
    sharing: Sharing = Field(default_factory=lambda: Sharing())
    tags: dict[str, str] = Field(default_factory=dict, description="tags on the stream's images and snapshots in "
                                                                  "every region, beside atomic-release's own")
    marketplace: Marketplace = Field(default_factory=lambda: Marketplace())
    partial_release_after_minutes: int | None = Field(
        default=None, ge=0, description="release the architectures at the newest version once it is this old, "
                                        "without the others; None: wait for every architecture")

    @field_validator("refs")
    @classmethod
    def _refs_not_blank(cls, refs: dict[str, str]) -> dict[str, str]:
        for arch, ref in refs.items():
            if not re.fullmatch(r"[A-Za-z0-9._/-]+", ref):
                raise ValueError(f"ref for {arch} is not an ostree ref name: {ref!r}")
        return refs

    @field_validator("tags")
    @classmethod
    def _tags_aws_takes(cls, tags: dict[str, str]) -> dict[str, str]:
        if problems := user_tag_problems(tags):
            raise ValueError("; ".join(problems))
        return tags

    @field_validator("ami_name_pattern")
    @classmethod
    def _pattern_names_each_image(cls, pattern: str) -> str:
        if not {"version", "arch"} <= placeholders(pattern, _NAME_FIELDS):
            raise ValueError("must contain {version} and {arch} so every image gets its own name")
        sample = pattern.format(stream="stable", version="41.20250101.3.0", arch="x86_64")
        if not _AMI_NAME.match(sample):
            raise ValueError(f"renders {sample!r}, which is not a valid AMI name")
        return pattern

    @model_validator(mode="after")
    def _every_arch_fully_described(self) -> "Stream":
        for field in ("instance_types", "builder_image_parameter"):
            missing = set(self.refs) - set(getattr(self, field))
            if missing:
                raise ValueError(f"{field} lacks {sorted(missing)}, which refs builds")
        for arch, types in self.instance_types.items():
            if not types:
                raise ValueError(f"instance_types.{arch} is empty")
        if self.install_method == "bootc" and not self.container_image:
            raise ValueError("install_method bootc needs container_image")
        if unbuilt := set(self.marketplace.products) - set(self.refs):
            raise ValueError(f"marketplace.products names {sorted(unbuilt)}, which refs does not build")
        if self.marketplace.publish and self.regions.base != MARKETPLACE_REGION:
            raise ValueError(f"marketplace.publish needs regions.base {MARKETPLACE_REGION}: a Marketplace version "
                             f"names its AMI by id alone, and the Catalog API reads it in {MARKETPLACE_REGION}")
        return self

    @property
    def marketplace_arches(self) -> list[Arch]:
        """The architectures whose Marketplace product gets a version (or a dry run) per release."""
        return [arch for arch in self.arches if arch in self.marketplace.products] if self.marketplace.publish else []

    @property
    def arches(self) -> list[Arch]:
        return [a for a in ARCHES if a in self.refs]

    def ami_name(self, version: str, arch: Arch) -> str:
        return self.ami_name_pattern.format(stream=self.name, version=version, arch=arch)

    def ssm_parameter(self, arch: Arch, label: str) -> str:
        return f"{self.ssm_prefix}/{self.name}/{arch}/{label}"


class StreamsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    streams: dict[str, Stream]

    @model_validator(mode="before")
    @classmethod
    def _name_from_key(cls, data):
        if isinstance(data, dict) and isinstance(data.get("streams"), dict):
            data = {**data, "streams": {k: {"name": k, **v} if isinstance(v, dict) else v
                                        for k, v in data["streams"].items()}}
        return data

    def stream(self, name: str) -> Stream:
        try:
            return self.streams[name]
        except KeyError:
            raise ConfigError(f"unknown stream {name!r}; configured: {', '.join(sorted(self.streams))}") from None


MAX_PROBLEMS_NAMED = 10


def describe_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: the dotted field path and pydantic's reason; the first
    ``MAX_PROBLEMS_NAMED`` of them, then how many more (a body of 200k unknown keys is one answer
    of a few lines, not an echo of the body)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False)[:MAX_PROBLEMS_NAMED]:
        where = ".".join(str(p)[:80] for p in item["loc"]) or "(top level)"
        problems.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(problems)
    return f"{source}: " + "; ".join(problems) + (f"; and {more} more problems" if more > 0 else "")


def load_streams(path: str | os.PathLike | None = None) -> StreamsConfig:
    """Load and validate the stream configuration (``STREAMS_CONFIG`` or the shipped default).

    Read once per file version: every task asks for it, and it changes only with a deployment."""
    source = Path(path or locations().streams_config or DEFAULT_CONFIG)
    try:
        return _load(source.resolve(), source.stat().st_mtime_ns)
    except OSError as error:
        raise ConfigError(f"{source.name}: cannot read stream configuration: {error}") from None


@functools.lru_cache(maxsize=16)
def _load(source: Path, _version: int) -> StreamsConfig:
    try:
        raw = json.loads(source.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{source.name}: cannot read stream configuration: {error}") from None
    try:
        return StreamsConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, source.name)) from None
