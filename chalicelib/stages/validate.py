"""Validate, per region: what Publish promised is true (available, public with its snapshots,
architecture, ENA, boot mode, IMDSv2, deprecation, the version's SSM parameter) before anything
points at the images. A region that fails a check is reported with what was wrong."""

from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.ec2 import image_snapshots, own_images
from chalicelib.aws.ssm import parameter_value
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import NothingPublished
from chalicelib.core.observability import logger
from chalicelib.models.regions import Check, RegionalImage, RegionOutcome, ValidateTask, Validation
from chalicelib.stages.build import BOOT_MODE
from chalicelib.stages.publish import REGIONS_AT_ONCE, version_parameter


def _snapshots_public(region: str, image: dict) -> bool | None:
    """Whether every snapshot behind the image may be used by anyone; None without an image."""
    if not image:
        return None
    ec2 = client("ec2", region)
    return all({"Group": "all"} in ec2.describe_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission")["CreateVolumePermissions"]
        for snapshot in image_snapshots(image))


def checks(stream: Stream, version: str, outcome: RegionOutcome) -> list[Check]:
    """Each promise about the region's images: available, public (its snapshots too),
    architecture, ENA, boot mode, IMDSv2, a deprecation time, and the version's SSM parameter
    naming the image."""
    described = own_images(outcome.region, [i.image_id for i in outcome.images])
    found: list[Check] = []
    for image in outcome.images:
        actual = described.get(image.image_id, {})
        promised = {"state": ("available", actual.get("State")), "public": ("True", actual.get("Public")),
                    "snapshots public": ("True", _snapshots_public(outcome.region, actual)),
                    "architecture": (image.arch, actual.get("Architecture")),
                    "ena": ("True", actual.get("EnaSupport")), "boot mode": (BOOT_MODE[image.arch], actual.get("BootMode")),
                    "imds": ("v2.0", actual.get("ImdsSupport")),
                    "deprecation": ("set", "set" if actual.get("DeprecationTime") else None),
                    "ssm parameter": (image.image_id, parameter_value(
                        outcome.region, version_parameter(stream, image.arch, version)))}
        found += [Check(region=outcome.region, arch=image.arch, check=name, expected=expected,
                        actual="missing" if value is None else str(value))
                  for name, (expected, value) in promised.items()]
    return found


def _validate_region(stream: Stream, version: str, outcome: RegionOutcome) -> tuple[RegionOutcome, list[Check]]:
    try:
        found = checks(stream, version, outcome)
    except (ClientError, BotoCoreError) as error:
        said = (f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
                if isinstance(error, ClientError) else str(error))
        return outcome.model_copy(update={"status": "failed", "stage": "validate", "reason": f"cannot validate: {said}"}), []
    wrong = [c for c in found if c.verdict != "correct"]
    seen = outcome.model_copy(update={"images": _as_seen(outcome.images, found)})
    if wrong:
        reason = "; ".join(f"{c.arch} {c.check} is {c.actual}, expected {c.expected}" for c in wrong)
        return seen.model_copy(update={"status": "failed", "stage": "validate", "reason": reason}), found
    return seen.model_copy(update={"status": "validated", "stage": "validate"}), found


def _as_seen(images: list[RegionalImage], found: list[Check]) -> list[RegionalImage]:
    """Each image's state and publicity as Validate found them, not as Publish left them."""
    actual = {(c.arch, c.check): c.actual for c in found}
    return [image.model_copy(update={"state": actual.get((image.arch, "state"), image.state),
                                     "public": actual.get((image.arch, "public"), str(image.public)) == "True"})
            for image in images]


def _verdicts(found: list[Check]) -> dict[str, int]:
    return {verdict: sum(1 for c in found if c.verdict == verdict) for verdict in ("correct", "incorrect", "missing")}


def validate(task: ValidateTask) -> Validation:
    """Published regions become validated, or failed with what is wrong; regions that failed
    to publish pass through. No validated region at all fails the release."""
    stream = load_streams().stream(task.stream)
    published = [r for r in task.published if r.status == "published"]
    with ThreadPoolExecutor(max_workers=REGIONS_AT_ONCE) as pool:
        results = list(pool.map(lambda r: _validate_region(stream, task.version, r), published))
    regions = [r for r in task.published if r.status != "published"] + [outcome for outcome, _ in results]
    problems = [{**c.model_dump(), "verdict": c.verdict} for _, found in results for c in found
                if c.verdict != "correct"]
    verdicts = {outcome.region: _verdicts(found) for outcome, found in results}
    if problems:
        logger.warning("validation found problems", extra={"problems": problems})
    # A fill-in run whose regions fail again leaves them missing; what else it retries goes on.
    if not task.attempt and not any(r.status == "validated" for r in regions):
        reasons = [f"{r.region}: {r.stage}: {r.reason}" for r in [*task.not_published, *regions]]
        raise NothingPublished("no region was published and validated: " + ("; ".join(reasons) or "no regions"))
    return Validation(regions=sorted(regions, key=lambda r: r.region), problems=problems, verdicts=verdicts)
