"""Before anything is copied: can each region take the release's images as public images?

A region whose image block public access is on, or whose public-AMI quota has no room for
the release, is skipped with the reason; the other regions go on and the release finishes
partial. So is a region the account has not opted into (one DescribeRegions for all), and a
region that cannot be asked (no permission, no answer). A stream that is not public shares its
images with those it names only: block public access and the public-AMI quota do not apply to it."""

from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws import ec2, service_quotas
from chalicelib.aws.errors import describe
from chalicelib.core.config import load_streams
from chalicelib.core.errors import ImageNameTaken
from chalicelib.core.observability import logger
from chalicelib.core.regions import REGIONS_AT_ONCE
from chalicelib.models.regions import Expected, Preflight, PreflightTask, RegionOutcome
from chalicelib.plan.latency import DEFAULT_MODEL, LatencyModel
from chalicelib.plan.observed import model_for_stream

PUBLIC_IMAGES_QUOTA = {"service_code": "ec2", "quota_code": "L-0E3CBAB9"}
NOT_OPTED_IN = "not-opted-in"
NOT_OPTED_IN_REASON = ("the account has not opted into this region (OptInStatus not-opted-in): enable the region "
                       "for the account, then a fill-in run publishes there")


def public_images_quota(region: str) -> int | None:
    """The account's quota of public images in a region; AWS's default when the account has
    no value of its own; None when Service Quotas knows neither."""
    value = service_quotas.quota_value(region, **PUBLIC_IMAGES_QUOTA)
    return None if value is None else int(value)


def public_images_in_use(region: str) -> int:
    return len(ec2.own_images_paged(region, [{"Name": "is-public", "Values": ["true"]}]))


def regions_not_opted_in(regions: list[str]) -> set[str]:
    """The regions the account has not opted into; none known when DescribeRegions cannot be
    asked, and then each region's own checks find a region that is not enabled."""
    try:
        statuses = ec2.opt_in_statuses()
    except (ClientError, BotoCoreError) as error:
        logger.warning("cannot ask which regions the account has opted into; checking each region",
                       extra={"error": describe(error)})
        return set()
    return {region for region in regions if statuses.get(region) == NOT_OPTED_IN}


def reason_to_skip(region: str, names: list[str], release_id: str, public: bool) -> str | None:
    """Why the release's images (by name) cannot go to ``region`` now; None when they can."""
    if not public:
        ec2.images_by_name(region, names, release_id)  # raises when another release has a name
        return None
    state = ec2.block_public_access_state(region)
    if state != "unblocked":
        return f"image block public access is {state}: images cannot be made public there"
    quota = public_images_quota(region)
    if quota is None:
        logger.warning("public image quota unknown; going on", extra={"region": region})
        return None
    ours = ec2.images_by_name(region, names, release_id)
    needed = sum(1 for name in names if not ours.get(name, {}).get("Public"))
    in_use = public_images_in_use(region)
    if in_use + needed > quota:
        return (f"public AMI quota ({PUBLIC_IMAGES_QUOTA['quota_code']}) is {quota} and {in_use} are in use: "
                f"no room for {needed} more")
    return None


def _check(region: str, names: list[str], release_id: str, public: bool) -> str | None:
    try:
        return reason_to_skip(region, names, release_id, public)
    except ImageNameTaken as error:
        return str(error)
    except (ClientError, BotoCoreError) as error:
        return f"cannot check the region: {describe(error)}"


def reasons_to_skip(regions: list[str], names: list[str], release_id: str, public: bool) -> dict[str, str | None]:
    """Each region's reason to be skipped (None: ready), asked of every region at once: the
    Preflight task's answer, and the plan's answer before the release."""
    not_opted_in = regions_not_opted_in(regions) if regions else set()
    to_check = [region for region in regions if region not in not_opted_in]
    with ThreadPoolExecutor(max_workers=REGIONS_AT_ONCE) as pool:
        checked = dict(zip(to_check, pool.map(lambda region: _check(region, names, release_id, public), to_check),
                           strict=True))
    return {region: NOT_OPTED_IN_REASON if region in not_opted_in else checked[region] for region in regions}


def preflight(task: PreflightTask) -> Preflight:
    public = load_streams().stream(task.stream).sharing.public
    reasons = reasons_to_skip(task.regions, [image.name for image in task.images], task.release_id, public)
    skipped = [RegionOutcome(region=region, status="skipped", stage="preflight", reason=reason)
               for region, reason in reasons.items() if reason]
    if skipped:
        logger.warning("regions skipped", extra={"skipped": {s.region: s.reason for s in skipped}})
    ready = [region for region, reason in reasons.items() if not reason]
    return Preflight(ready=ready, skipped=skipped, expected=expected(task.stream, ready))


def expected(stream_name: str, regions: list[str]) -> Expected:
    """When the copies to ``regions`` and a Marketplace change set should be done, read once per
    run from the stream's latency model (its own history, else the defaults), so that the follows
    wait for them. A history that cannot be read or modelled leaves the defaults: it never stops
    the release."""
    try:
        return _expected(model_for_stream(stream_name), regions)
    except (ClientError, BotoCoreError) as error:
        logger.warning("the stream's history cannot be read: expecting the defaults", extra={"error": describe(error)})
    except Exception:  # noqa: BLE001 - a history in a shape the model does not expect: a bug to see, not to stop on
        logger.exception("the stream's history cannot be modelled: expecting the defaults")
    return _expected(DEFAULT_MODEL, regions)


def _expected(model: LatencyModel, regions: list[str]) -> Expected:
    return Expected(copy_s={region: model.estimate("copy", region).median_s for region in regions},
                    marketplace_s=model.estimate("marketplace").median_s)
