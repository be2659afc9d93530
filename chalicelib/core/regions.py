"""Commercial AWS regions in the order `--regions N` takes copy targets from."""

COMMERCIAL_REGIONS: tuple[str, ...] = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    "ca-central-1", "ca-west-1", "mx-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2",
    "eu-north-1", "eu-south-1", "eu-south-2",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-7", "ap-south-1", "ap-south-2", "ap-east-1",
    "me-south-1", "me-central-1", "il-central-1", "af-south-1",
)


def first_regions(base: str, count: int) -> list[str]:
    """The base region followed by the first ``count - 1`` other commercial regions."""
    if count < 1:
        raise ValueError("--regions must be at least 1 (the base region)")
    others = [r for r in COMMERCIAL_REGIONS if r != base]
    if count - 1 > len(others):
        raise ValueError(f"--regions may be at most {len(others) + 1}: that is every commercial region")
    return [base, *others[: count - 1]]
