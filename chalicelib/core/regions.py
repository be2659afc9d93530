"""The AWS regions a stream may name: every region where botocore's endpoint data has EC2 in the
standard partition, so a region AWS opens arrives with a botocore upgrade, not a hand edit.

Only the standard partition (``aws``): CopyImage does not cross partitions, Marketplace and the
policies' proofs live there, so GovCloud (``aws-us-gov``), China (``aws-cn``) and the isolated
partitions are refused by name."""

import functools

import botocore.session

PARTITION = "aws"
# How many regions a task asks AWS about at once, each in a thread of its pool.
REGIONS_AT_ONCE = 8
PARTITION_NAMES = {"aws-us-gov": "AWS GovCloud (US)", "aws-cn": "AWS China"}


@functools.cache
def _ec2_regions(partition: str) -> tuple[str, ...]:
    return tuple(botocore.session.get_session().get_available_regions("ec2", partition))


def aws_regions() -> tuple[str, ...]:
    """The standard partition's EC2 regions, in botocore's order."""
    return _ec2_regions(PARTITION)


def is_supported(region: str) -> bool:
    return region in aws_regions()


def _partition_name(partition: str) -> str:
    known = PARTITION_NAMES.get(partition)
    return f"{known} partition ({partition})" if known else f"{partition} partition"


def unsupported_reason(region: str) -> str:
    """Why ``region`` cannot be named: another partition's region, or no AWS region at all."""
    for partition in botocore.session.get_session().get_available_partitions():
        if partition != PARTITION and region in _ec2_regions(partition):
            return (f"{region!r} is a region of the {_partition_name(partition)}: atomic-release publishes only "
                    f"in the standard partition ({PARTITION})")
    return f"{region!r} is not an AWS region with EC2 (botocore's endpoint data does not list it)"


def refuse_unsupported(regions: list[str]) -> None:
    """ValueError naming the first region that is not a standard-partition EC2 region."""
    for region in regions:
        if not is_supported(region):
            raise ValueError(unsupported_reason(region))


def _area(region: str) -> str:
    return region.split("-", 1)[0]


def first_regions(base: str, count: int) -> list[str]:
    """The base region, then ``count - 1`` other regions: those of the base's area (``us``,
    ``eu``, ``ap``, ...) first, the rest after, each in botocore's order."""
    if count < 1:
        raise ValueError("--regions must be at least 1 (the base region)")
    others = [r for r in aws_regions() if r != base]
    others.sort(key=lambda region: _area(region) != _area(base))  # stable: botocore's order within each group
    if count - 1 > len(others):
        raise ValueError(f"--regions may be at most {len(others) + 1}: that is every AWS region")
    return [base, *others[: count - 1]]
