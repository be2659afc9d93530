"""What tests ask of AWS after a release: what it left behind, and what it published."""

from chalicelib.aws.clients import client
from chalicelib.aws.ec2 import LIVE_INSTANCE_STATES
from chalicelib.core.tags import RELEASE


def _tagged(release_id: str) -> list[dict]:
    return [{"Name": f"tag:{RELEASE}", "Values": [release_id]}]


def release_resources(release_id: str, regions: list[str]) -> dict[str, list[str]]:
    """Every live instance, volume, snapshot and image tagged with the release, by kind."""
    found: dict[str, list[str]] = {"instances": [], "volumes": [], "snapshots": [], "images": []}
    for region in regions:
        ec2 = client("ec2", region)
        reservations = ec2.describe_instances(Filters=[
            *_tagged(release_id), {"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}])["Reservations"]
        found["instances"] += [i["InstanceId"] for r in reservations for i in r["Instances"]]
        found["volumes"] += [v["VolumeId"] for v in ec2.describe_volumes(Filters=_tagged(release_id))["Volumes"]]
        found["snapshots"] += [s["SnapshotId"] for s in ec2.describe_snapshots(
            OwnerIds=["self"], Filters=_tagged(release_id))["Snapshots"]]
        found["images"] += [i["ImageId"] for i in ec2.describe_images(
            Owners=["self"], Filters=_tagged(release_id))["Images"]]
    return found


def account_inventory(regions: list[str]) -> dict[str, set[str]]:
    """Everything in the account, tagged or not: a leak without tags shows up here."""
    found: dict[str, set[str]] = {"instances": set(), "volumes": set(), "snapshots": set(), "images": set()}
    for region in regions:
        ec2 = client("ec2", region)
        reservations = ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}])["Reservations"]
        found["instances"] |= {i["InstanceId"] for r in reservations for i in r["Instances"]}
        found["volumes"] |= {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
        found["snapshots"] |= {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        found["images"] |= {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    return found


def nothing(found: dict) -> bool:
    return not any(found.values())
