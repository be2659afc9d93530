"""Faults of a destination region, for the distribution stages: every copy to the region
fails, the region blocks public images, its public-AMI quota is full, someone makes the
release's images there private right after they were published, or the account has not opted
into the region."""

from dataclasses import dataclass
from typing import Literal, get_args

from atomic_release.local.marketplace_catalog.faults import MARKETPLACE_FAULT_KINDS, MarketplaceFault
from atomic_release.local.patches import ec2_emulation
from atomic_release.local.simulator import Fault
from chalicelib.aws.clients import client
from chalicelib.core.regions import is_supported
from chalicelib.stages.preflight import public_images_in_use

RegionFaultKind = Literal["copy-fails", "public-blocked", "quota-full", "made-private", "not-opted-in"]
REGION_FAULT_KINDS: tuple[str, ...] = get_args(RegionFaultKind)


@dataclass(frozen=True)
class RegionFault:
    kind: RegionFaultKind
    region: str

    @classmethod
    def parse(cls, text: str) -> "RegionFault":
        kind, _, region = text.partition(":")
        if kind not in REGION_FAULT_KINDS:
            raise ValueError(f"unknown region fault {kind!r}; one of {', '.join(REGION_FAULT_KINDS)}")
        if not is_supported(region):
            raise ValueError(f"fault {text!r} needs an AWS region, as {kind}:REGION")
        if kind == "not-opted-in" and not ec2_emulation.needs_opt_in(region):
            raise ValueError(f"fault {text!r} needs a region an account opts into: {region} is enabled for every account")
        return cls(kind, region)  # type: ignore[arg-type]


def parse_fault(text: str) -> Fault | RegionFault | MarketplaceFault:
    """``KIND[:ARCH]`` for a guest or Marketplace fault, ``KIND:REGION`` for a region fault."""
    kind = text.partition(":")[0]
    if kind in REGION_FAULT_KINDS:
        return RegionFault.parse(text)
    return MarketplaceFault.parse(text) if kind in MARKETPLACE_FAULT_KINDS else Fault.parse(text)


@dataclass
class RegionFaults:
    faults: list[RegionFault]

    def regions(self, kind: str) -> set[str]:
        return {f.region for f in self.faults if f.kind == kind}

    def set_up(self) -> None:
        """What holds from the start: blocked regions, full quotas."""
        for region in self.regions("public-blocked"):
            client("ec2", region).enable_image_block_public_access(
                ImageBlockPublicAccessState="block-new-sharing")
        for region in self.regions("quota-full"):
            ec2_emulation.set_public_image_quota(region, public_images_in_use(region))
        for region in self.regions("not-opted-in"):
            ec2_emulation.set_opt_in_status(region, ec2_emulation.NOT_OPTED_IN)

    def copy_made(self, region: str, ami) -> None:
        """A copy to a failing region ends as EC2 ends a failed copy: state ``failed``."""
        if region in self.regions("copy-fails"):
            ami.state = "failed"

    def invoked(self, function_name: str, event: dict) -> None:
        """After a follow of the copies has published a region that has this fault, its images go
        private again: the regions it was handed still copying whose images are public now."""
        if not function_name.endswith("-follow_copies"):
            return
        for region in event.get("copies", []):
            if region["region"] not in self.regions("made-private") or region["status"] != "copying":
                continue
            ec2 = client("ec2", region["region"])
            image_ids = [image["image_id"] for image in region["images"]]
            for image in ec2.describe_images(ImageIds=image_ids)["Images"] if image_ids else []:
                if image.get("Public"):
                    ec2.modify_image_attribute(ImageId=image["ImageId"],
                                               LaunchPermission={"Remove": [{"Group": "all"}]})
