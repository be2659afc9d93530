"""Validate, per region: what Publish promised is true (available, public with its snapshots, or
neither for a stream shared only with whom it names; architecture, ENA, boot mode, IMDSv2,
deprecation, the version's SSM parameter) before anything points at the images. A region that fails a check is reported with what was wrong.

A region whose images are no longer public (someone made one private after Publish) loses its
version parameters at once: nothing may name an image no one else can launch, and retention,
a dry run by default, would only report it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.ec2 import image_snapshots, own_images, snapshot_is_public
from chalicelib.aws.errors import describe, ignoring
from chalicelib.aws.ssm import delete_parameter, parameter_value
from chalicelib.core.config import Stream, load_streams
from chalicelib.core.errors import NothingPublished
from chalicelib.core.observability import logger
from chalicelib.core.regions import REGIONS_AT_ONCE
from chalicelib.models.regions import Check, RegionalImage, RegionOutcome, ValidateTask, Validation
from chalicelib.stages.build import BOOT_MODE
from chalicelib.stages.publish import version_parameter

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import ImageTypeDef


def _snapshots_public(region: str, image: ImageTypeDef) -> bool | None:
    """Whether every snapshot behind the image may be used by anyone; None without an image."""
    if not image:
        return None
    return all(snapshot_is_public(region, snapshot) for snapshot in image_snapshots(image))


class Seen(NamedTuple):
    """What AWS says of one image a region is to have: as DescribeImages has it ({} when it does
    not), whether its snapshots are public, and the image the version's SSM parameter names."""

    image: ImageTypeDef
    snapshots_public: bool | None
    parameter: str | None


def look(stream: Stream, version: str, outcome: RegionOutcome) -> list[Seen]:
    """The region's images as AWS sees them, in the order of ``outcome.images``."""
    described = own_images(outcome.region, [i.image_id for i in outcome.images])
    seen = []
    for image in outcome.images:
        actual = described.get(image.image_id, {})
        seen.append(Seen(actual, _snapshots_public(outcome.region, actual),
                         parameter_value(outcome.region, version_parameter(stream, image.arch, version))))
    return seen


def compare(region: str, image: RegionalImage, seen: Seen, public: bool = True) -> list[Check]:
    """Each promise about the image: available, public as the stream says (its snapshots too),
    architecture, ENA, boot mode, IMDSv2, a deprecation time, and the version's SSM parameter
    naming the image."""
    actual = seen.image
    promised = {"state": ("available", actual.get("State")), "public": (str(public), actual.get("Public")),
                "snapshots public": (str(public), seen.snapshots_public),
                "architecture": (image.arch, actual.get("Architecture")),
                "ena": ("True", actual.get("EnaSupport")), "boot mode": (BOOT_MODE[image.arch], actual.get("BootMode")),
                "imds": ("v2.0", actual.get("ImdsSupport")),
                "deprecation": ("set", "set" if actual.get("DeprecationTime") else None),
                "ssm parameter": (image.image_id, seen.parameter)}
    return [Check(region=region, arch=image.arch, check=name, expected=expected,
                  actual="missing" if value is None else str(value))
            for name, (expected, value) in promised.items()]


def checks(stream: Stream, version: str, outcome: RegionOutcome) -> list[Check]:
    """Each promise about the region's images, as ``compare`` checks it against what AWS says."""
    return [check for image, seen in zip(outcome.images, look(stream, version, outcome), strict=True)
            for check in compare(outcome.region, image, seen, stream.sharing.public)]


PUBLICITY_CHECKS = ("public", "snapshots public")


def _validate_region(stream: Stream, version: str, outcome: RegionOutcome) -> tuple[RegionOutcome, list[Check]]:
    try:
        found = checks(stream, version, outcome)
    except (ClientError, BotoCoreError) as error:
        reason = f"cannot validate: {describe(error)}"
        return outcome.model_copy(update={"status": "failed", "stage": "validate", "reason": reason}), []
    result = judged(outcome, found)
    if any(c.check in PUBLICITY_CHECKS and c.verdict == "incorrect" for c in found):
        result = without_version_parameters(stream, version, result)
    return result, found


def without_version_parameters(stream: Stream, version: str, outcome: RegionOutcome) -> RegionOutcome:
    """The region's version parameters of the release removed, as its images are not all public;
    its reason says so (or why they could not be), and its images no longer list them."""
    names = [version_parameter(stream, image.arch, version) for image in outcome.images]
    try:
        for name in names:
            with ignoring("ParameterNotFound"):
                delete_parameter(outcome.region, name)
    except (ClientError, BotoCoreError) as error:
        logger.error("a private image's version parameters could not be removed",
                     extra={"region": outcome.region, "parameters": names, "error": describe(error)})
        return outcome.model_copy(update={
            "reason": f"{outcome.reason}; its version parameters could not be removed: {describe(error)}"})
    logger.warning("version parameters of images not public removed", extra={"region": outcome.region,
                                                                             "parameters": names})
    images = [image.model_copy(update={"parameters": [p for p in image.parameters if p not in names]})
              for image in outcome.images]
    return outcome.model_copy(update={
        "images": images, "reason": f"{outcome.reason}; version parameters removed: {', '.join(names)}"})


def judged(outcome: RegionOutcome, found: list[Check]) -> RegionOutcome:
    """The region validated when every check is correct, else failed with what is wrong; its
    images as Validate found them."""
    wrong = [c for c in found if c.verdict != "correct"]
    seen = outcome.model_copy(update={"images": _as_seen(outcome.images, found)})
    if wrong:
        reason = "; ".join(f"{c.arch} {c.check} is {c.actual}, expected {c.expected}" for c in wrong)
        return seen.model_copy(update={"status": "failed", "stage": "validate", "reason": reason})
    return seen.model_copy(update={"status": "validated", "stage": "validate"})


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
