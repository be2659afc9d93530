"""Where Build tries a guest, which live guest is this attempt's, and which builder disks are
stray, without AWS."""

from chalicelib.core.config import load_streams
from chalicelib.stages.build import TOKEN_TAG, attempts_guest, placements, stray_builder_disks


def stream(subnets: list[str]):
    return load_streams().stream("developer").model_copy(update={
        "subnets": subnets, "instance_types": {"x86_64": ["m7i.large", "m6i.large"], "arm64": ["m7g.large"]}})


def test_every_subnet_is_tried_with_the_preferred_type_before_the_next_type():
    assert placements(stream(["subnet-0000000a", "subnet-0000000b"]), "x86_64") == [
        ("m7i.large", "subnet-0000000a"), ("m7i.large", "subnet-0000000b"),
        ("m6i.large", "subnet-0000000a"), ("m6i.large", "subnet-0000000b")]


def test_without_subnets_each_type_is_tried_where_the_default_vpc_puts_it():
    assert placements(stream([]), "x86_64") == [("m7i.large", None), ("m6i.large", None)]
    assert placements(stream([]), "arm64") == [("m7g.large", None)]


def test_the_guest_tagged_with_this_attempts_token_is_its_own_and_the_others_are_stale():
    def guest(instance_id: str, fingerprint: str) -> dict:
        return {"InstanceId": instance_id, "Tags": [{"Key": TOKEN_TAG, "Value": fingerprint}]}

    earlier, own, untagged = guest("i-1", "earlier"), guest("i-2", "this"), {"InstanceId": "i-3"}
    assert attempts_guest([earlier, own, untagged], "this") == (own, [earlier, untagged])
    assert attempts_guest([earlier, untagged], "this") == (None, [earlier, untagged])


def test_every_detached_builder_disk_but_the_reported_one_is_stray():
    volumes = [{"VolumeId": "vol-reported", "State": "available"},
               {"VolumeId": "vol-of-a-retried-launch", "State": "available"},
               {"VolumeId": "vol-in-use", "State": "in-use"},
               {"VolumeId": "vol-deleting", "State": "deleting"}]

    assert stray_builder_disks(volumes, "vol-reported") == ["vol-of-a-retried-launch"]
    assert stray_builder_disks(volumes[:1], "vol-reported") == []
