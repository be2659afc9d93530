"""What the sweeper finds left over, without AWS: EC2's descriptions in, per release what is past the sweep."""

from datetime import UTC, datetime, timedelta

from chalicelib.core.tags import RELEASE
from chalicelib.upkeep.sweeper import SWEEP_AFTER, leftovers

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
OLD, YOUNG = NOW - SWEEP_AFTER - timedelta(minutes=1), NOW - timedelta(minutes=10)


def tags(release_id: str) -> list[dict]:
    return [{"Key": RELEASE, "Value": release_id}]


def test_old_things_are_found_per_release_and_young_ones_are_left():
    instances = [{"InstanceId": "i-old", "LaunchTime": OLD, "Tags": tags("r1")},
                 {"InstanceId": "i-young", "LaunchTime": YOUNG, "Tags": tags("r1")}]
    snapshots = [{"SnapshotId": "snap-old", "StartTime": OLD, "Tags": tags("r2")}]

    found = leftovers(instances, [], [], snapshots, NOW)

    assert {release: dict(kinds) for release, kinds in found.items()} == {
        "r1": {"instances": ["i-old"]}, "r2": {"snapshots": ["snap-old"]}}


def test_a_volume_going_with_its_instance_and_a_public_image_are_not_leftovers():
    volumes = [{"VolumeId": "vol-kept", "CreateTime": OLD, "State": "available", "Tags": tags("r1")},
               {"VolumeId": "vol-going", "CreateTime": OLD, "State": "in-use", "Tags": tags("r1"),
                "Attachments": [{"DeleteOnTermination": True}]}]
    created = OLD.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    images = [{"ImageId": "ami-private", "CreationDate": created, "Public": False, "Tags": tags("r1")},
              {"ImageId": "ami-public", "CreationDate": created, "Public": True, "Tags": tags("r1")}]

    found = leftovers([], volumes, images, [], NOW)

    assert dict(found["r1"]) == {"volumes": ["vol-kept"], "images": ["ami-private"]}


def test_a_private_image_protected_from_deregistration_is_not_a_leftover():
    """A shared-only stream's images are private; Announce protected those its metadata names, and
    DeregisterImage refuses them: retention, which lifts the protection, retires them."""
    created = OLD.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    images = [{"ImageId": "ami-shared", "CreationDate": created, "Public": False, "Tags": tags("r1"),
               "DeregistrationProtection": "enabled"},
              {"ImageId": "ami-cooling", "CreationDate": created, "Public": False, "Tags": tags("r1"),
               "DeregistrationProtection": "enabled-with-cooldown"},
              {"ImageId": "ami-left", "CreationDate": created, "Public": False, "Tags": tags("r1"),
               "DeregistrationProtection": "disabled"}]

    found = leftovers([], [], images, [], NOW)

    assert dict(found["r1"]) == {"images": ["ami-left"]}
