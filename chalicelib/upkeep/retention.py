"""Retention, on its own schedule: per stream, keep the newest releases and the young ones, and
retire the others by deregistering their images, deleting their snapshots and their version's
SSM parameters in every region, and deleting their downloadable files. An image that users are
still pointed at (by the stream metadata) is never removed, and neither are the files of a
version the stream metadata offers for download. Kept images that AWS made private after their deprecation are made
public again (a stream shared only with whom it names has none to restore). An image protected from
deregistration (Announce protects every image it names) has its protection turned off just before
it is deregistered, and only then.

``plan`` only reads; ``apply`` changes what the plan says and nothing else, so a dry run is a
plan that is not applied. Applying a plan twice does no harm: what is already gone is no error."""

import calendar
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from chalicelib.aws import ec2, s3, ssm
from chalicelib.aws.ec2 import chunks, image_snapshots, own_images, share_image_publicly, share_snapshot_publicly
from chalicelib.aws.errors import code_of, describe
from chalicelib.core.config import Retention, Stream, load_streams
from chalicelib.core.observability import RETENTION_ERRORS, fail_loudly, logger
from chalicelib.core.settings import settings
from chalicelib.core.tags import RELEASE, as_dict
from chalicelib.models.artifacts import builds_prefix
from chalicelib.models.base import Model
from chalicelib.models.record import ReleaseRecord, ReleaseStatus
from chalicelib.stages.announce import aws_images, read_stream_metadata
from chalicelib.store import records
from chalicelib.upkeep.sweeper import all_regions

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef, ImageTypeDef, SnapshotTypeDef

Tagged = TypeVar("Tagged", "ImageTypeDef", "SnapshotTypeDef")

# A release that ended unreleased after publication began kept its public images (something may
# name them already); retention retires them at once, but for what the metadata or ``latest`` names.
GONE = {"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidSnapshot.NotFound", "ParameterNotFound"}
RECORDS = "records"  # where a failure to mark a release retired is reported, beside the regions
DOWNLOADS = "downloads"  # where a failure to list or delete downloadable files is, beside the regions


class Image(Model):
    region: str
    image_id: str
    snapshots: list[str] = Field(default_factory=list)
    protected_from_deregistration: bool = False


class Protected(Image):
    reason: str


class Restore(Image):
    """A kept image that is no longer public."""

    release_id: str
    version: str


class RegionRetirement(Model):
    """What a retired release leaves in one region, and what of it must stay."""

    images: list[Image] = Field(default_factory=list)
    orphan_snapshots: list[str] = Field(default_factory=list, description="tagged with the release, behind no image")
    parameters: list[str] = Field(default_factory=list, description="the version's SSM parameters naming an image "
                                                                     "that goes")
    protected: list[Protected] = Field(default_factory=list)

    @property
    def found_anything(self) -> bool:
        return bool(self.images or self.orphan_snapshots or self.parameters or self.protected)


class Retirement(Model):
    release_id: str
    status: ReleaseStatus = Field(description="the release's status when planned: retired only while it stays so")
    version: str
    commit_time: datetime
    regions: dict[str, RegionRetirement] = Field(default_factory=dict, description="only regions with something")
    files: list[str] = Field(default_factory=list, description="the version's downloadable files (bucket keys)")
    files_kept: str = Field(default="", description="why the version's files stay, if they do")

    @property
    def protected(self) -> list[Protected]:
        return [image for part in self.regions.values() for image in part.protected]

    @property
    def found_anything(self) -> bool:
        return bool(self.regions or self.files or self.files_kept)

    def removals(self) -> dict[str, list[str]]:
        """kind -> ``region:id`` of everything the retirement removes."""
        removals: dict[str, list[str]] = {"images": [], "snapshots": [], "parameters": [], "files": list(self.files)}
        for region, part in sorted(self.regions.items()):
            removals["images"] += [f"{region}:{image.image_id}" for image in part.images]
            removals["snapshots"] += [f"{region}:{s}" for image in part.images for s in image.snapshots]
            removals["snapshots"] += [f"{region}:{s}" for s in part.orphan_snapshots]
            removals["parameters"] += [f"{region}:{name}" for name in part.parameters]
        return removals


class Kept(Model):
    release_id: str
    version: str
    commit_time: datetime
    reason: str


class RetentionPlan(Model):
    stream: str
    now: datetime
    retention: Retention
    kept: list[Kept] = Field(default_factory=list, description="newest first")
    retire: list[Retirement] = Field(default_factory=list, description="newest first")
    restore: list[Restore] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict, description="region -> why it could not be inspected; "
                                                                     "nothing there is planned")

    def lines(self) -> list[str]:
        policy = self.retention
        lines = [f"stream {self.stream}: keep the newest {policy.keep_releases} releases and those within "
                 f"{policy.keep_months} months; {len(self.kept)} kept, {len(self.retire)} to retire, "
                 f"{len(self.restore)} images to make public again"]
        lines += [f"keep {k.release_id} ({k.version}): {k.reason}" for k in self.kept]
        for retirement in self.retire:
            lines += _retirement_lines(retirement)
        lines += [f"make public again {r.region} {_with_snapshots(r)}" for r in self.restore]
        lines += [f"cannot inspect {region}: {error}; nothing there is retired or restored, no release is "
                  f"recorded as retired" for region, error in sorted(self.errors.items())]
        return lines


class RetentionResult(Model):
    """What apply did, each item as ``region:id``."""

    deregistered: list[str] = Field(default_factory=list)
    deleted_snapshots: list[str] = Field(default_factory=list)
    deleted_parameters: list[str] = Field(default_factory=list)
    deleted_files: list[str] = Field(default_factory=list, description="bucket keys")
    already_gone: list[str] = Field(default_factory=list)
    unprotected: list[str] = Field(default_factory=list, description="images whose deregistration protection was "
                                                                     "turned off to deregister them")
    made_public: list[str] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list, description="releases now recorded as RETIRED")
    skipped: list[str] = Field(default_factory=list, description="releases whose status changed since the plan")
    named_since: list[str] = Field(default_factory=list, description="images the stream metadata named after the "
                                                                     "plan was made: kept, with their snapshots")
    errors: dict[str, list[str]] = Field(default_factory=dict, description="region (or 'records') -> failures")

    def lines(self) -> list[str]:
        lines = [f"done: {len(self.deregistered)} images deregistered, {len(self.deleted_snapshots)} snapshots and "
                 f"{len(self.deleted_parameters)} parameters deleted, {len(self.deleted_files)} files deleted, "
                 f"{len(self.already_gone)} already gone, "
                 f"{len(self.made_public)} made public, {len(self.retired)} releases retired"]
        return lines + [f"not retired, changed since the plan: {line}" for line in self.skipped] + \
            [f"kept, named by the stream metadata since the plan: {line}" for line in self.named_since] + \
            [f"failed in {where}: {error}" for where, errors in sorted(self.errors.items()) for error in errors]


class RetentionRun(Model):
    stream: str
    dry_run: bool
    plan: RetentionPlan
    result: RetentionResult | None = None

    def lines(self) -> list[str]:
        outcome = ["dry run: nothing was changed"] if self.result is None else self.result.lines()
        return self.plan.lines() + outcome


class RetentionRuns(Model):
    runs: list[RetentionRun] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict, description="stream -> why it could not be planned")

    def lines(self) -> list[str]:
        return [f"{run.stream}: {line}" for run in self.runs for line in run.lines()] + [
            f"{stream}: cannot plan: {why}" for stream, why in self.failed.items()]

    def failures(self) -> dict[str, str]:
        """stream -> what retention could not inspect, plan or do there (the scheduled run fails on any)."""
        found = {run.stream: "; ".join([f"cannot inspect {where}: {why}" for where, why in sorted(run.plan.errors.items())]
                                       + [f"failed in {where}: {error}" for where, errors in
                                          sorted((run.result.errors if run.result else {}).items()) for error in errors])
                 for run in self.runs}
        return {stream: why for stream, why in found.items() if why} | {
            stream: f"cannot plan: {why}" for stream, why in self.failed.items()}


# -- what to keep ---------------------------------------------------------------------------

def months_before(when: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier; a day the month lacks becomes its last day."""
    year, month_index = divmod(when.year * 12 + when.month - 1 - months, 12)
    day = min(when.day, calendar.monthrange(year, month_index + 1)[1])
    return when.replace(year=year, month=month_index + 1, day=day)


def commit_time(record: ReleaseRecord) -> datetime:
    """The latest commit time among the release's architectures."""
    newest = max(commit.timestamp for commit in record.commits.values())
    return newest if newest.tzinfo else newest.replace(tzinfo=UTC)


def _newest_first(releases: list[ReleaseRecord]) -> list[ReleaseRecord]:
    return sorted(releases, key=lambda r: (commit_time(r), r.created_at, r.release_id), reverse=True)


def keep_reason(rank: int, record: ReleaseRecord, policy: Retention, now: datetime) -> str | None:
    """Why the release at ``rank`` (0: the newest) keeps its images, or None."""
    if rank < policy.keep_releases:
        return f"newest {policy.keep_releases}"
    if commit_time(record) >= months_before(now, policy.keep_months):
        return f"within {policy.keep_months} months"
    return None


class Keeping(NamedTuple):
    kept: list[tuple[ReleaseRecord, str]]  # newest first, each with why it stays
    retiring: list[ReleaseRecord]  # newest first: the released ones past the policy, then the unreleased


def keeping(every: list[ReleaseRecord], policy: Retention, now: datetime) -> Keeping:
    """Of a stream's releases, which keep their images under the policy and which retire: the
    released ones the policy does not keep, and every one that ended unreleased."""
    releases = _newest_first([r for r in every if r.status in ReleaseStatus.OUT])
    reasons = [keep_reason(rank, record, policy, now) for rank, record in enumerate(releases)]
    return Keeping(kept=[(record, reason) for record, reason in zip(releases, reasons, strict=True) if reason],
                   retiring=[record for record, reason in zip(releases, reasons, strict=True) if not reason]
                   + _newest_first([r for r in every if r.status in ReleaseStatus.ENDED_UNRELEASED]))


def referenced_images(stream: str, releases: list[ReleaseRecord]) -> dict[str, str]:
    """Every image something outside retention points users at -> why it must stay: the stream
    metadata, and the Marketplace versions the releases created or are creating."""
    return {**_named_by_marketplace(releases), **_named_by_stream_metadata(stream)}


def _named_by_marketplace(releases: list[ReleaseRecord]) -> dict[str, str]:
    """A version names its image for as long as the product offers it; a change set in flight
    (or overdue) may still be copying it."""
    named = {}
    for record in releases:
        for change in record.marketplace.values():
            if change.names_its_image:
                named[change.image_id] = f"named by Marketplace: {change.describe}"
    return named


def named_by_latest(stream: Stream, region: str) -> dict[str, str]:
    """The images the stream's ``latest`` parameters name in a region."""
    names = [stream.ssm_parameter(arch, "latest") for arch in stream.arches]
    return {value: f"named by {name} in {region}" for name, value in ssm.existing_parameters(region, names).items()}


def downloads_named(stream: str) -> dict[str, str]:
    """version -> where the stream metadata offers its files for download."""
    named = {}
    for arch, entry in read_stream_metadata(stream).get("architectures", {}).items():
        for platform, artifacts in entry.get("artifacts", {}).items():
            if artifacts.get("release"):
                named[artifacts["release"]] = f"named by the stream metadata ({arch} {platform})"
    return named


def _named_by_stream_metadata(stream: str) -> dict[str, str]:
    return {image_id: f"named by the stream metadata ({arch} in {region})"
            for arch, region, image_id in aws_images(read_stream_metadata(stream))}


# -- looking ----------------------------------------------------------------------------------

def _tagged(region: str, describe_own: Callable[[str, Sequence["FilterTypeDef"]], list[Tagged]],
            release_ids: list[str]) -> dict[str, list[Tagged]]:
    """This account's images or snapshots (as ``describe_own`` finds them) in a region that
    carry one of the releases' tag, by release."""
    found: dict[str, list[Tagged]] = defaultdict(list)
    for chunk in chunks(release_ids):
        for item in describe_own(region, [{"Name": f"tag:{RELEASE}", "Values": chunk}]):
            found[as_dict(item.get("Tags"))[RELEASE]].append(item)
    return found


def _version_parameters(region: str, stream: Stream, record: ReleaseRecord, removed: set[str]) -> list[str]:
    """The release's version parameters in the region that name an image about to go."""
    names = [stream.ssm_parameter(arch, record.version) for arch in sorted({*stream.arches, *record.commits})]
    return sorted(name for name, value in ssm.existing_parameters(region, names).items() if value in removed)


def _region_retirement(region: str, stream: Stream, record: ReleaseRecord, images: list["ImageTypeDef"],
                       snapshots: list["SnapshotTypeDef"], referenced: dict[str, str]) -> RegionRetirement:
    part = RegionRetirement()
    for image in sorted(images, key=lambda i: i["ImageId"]):
        found = {"region": region, "image_id": image["ImageId"], "snapshots": sorted(image_snapshots(image)),
                 "protected_from_deregistration": ec2.is_protected(image)}
        if image["ImageId"] in referenced:
            part.protected.append(Protected(**found, reason=referenced[image["ImageId"]]))
        else:
            part.images.append(Image(**found))
    behind_images = {s for image in images for s in image_snapshots(image)}
    part.orphan_snapshots = sorted(s["SnapshotId"] for s in snapshots if s["SnapshotId"] not in behind_images)
    if part.images:
        part.parameters = _version_parameters(region, stream, record, {i.image_id for i in part.images})
    return part


def _restores(region: str, owners: dict[str, ReleaseRecord]) -> list[Restore]:
    """Of the kept images in the region (image id -> its release), those no longer public."""
    return [Restore(region=region, image_id=image["ImageId"], snapshots=sorted(image_snapshots(image)),
                    release_id=owners[image["ImageId"]].release_id, version=owners[image["ImageId"]].version)
            for image in own_images(region, sorted(owners)).values() if not image.get("Public")]


def _images_in(record: ReleaseRecord, region: str) -> list[str]:
    return [regions[region] for regions in record.images.values() if region in regions]


def _inspect_region(region: str, stream: Stream, retiring: list[ReleaseRecord], kept: list[ReleaseRecord],
                    referenced: dict[str, str]) -> tuple[dict[str, RegionRetirement], list[Restore]]:
    """Per retiring release what it leaves in the region; and which kept images there are private: the kept
    releases' own and the protected ones."""
    ids = [r.release_id for r in retiring]
    images = _tagged(region, ec2.own_images_paged, ids) if ids else {}
    snapshots = _tagged(region, ec2.own_snapshots_paged, ids) if ids else {}
    parts = {}
    owners = {image_id: record for record in kept for image_id in _images_in(record, region)}
    for record in retiring:
        part = _region_retirement(region, stream, record, images.get(record.release_id, []),
                                  snapshots.get(record.release_id, []), referenced)
        if part.found_anything:
            parts[record.release_id] = part
        owners |= {protected.image_id: record for protected in part.protected}
    return parts, (_restores(region, owners) if stream.sharing.public else [])


def plan(stream_name: str, now: datetime | None = None) -> RetentionPlan:
    """Which releases of the stream keep their images, what the others leave in each region,
    and which kept images are to be made public again. Reads only."""
    stream = load_streams().stream(stream_name)
    now = now or datetime.now(UTC)
    every = records.releases_of(stream_name)
    kept_with_reasons, retiring = keeping(every, stream.retention, now)
    kept = [record for record, _ in kept_with_reasons]
    result = RetentionPlan(
        stream=stream_name, now=now, retention=stream.retention,
        kept=[Kept(release_id=r.release_id, version=r.version, commit_time=commit_time(r), reason=reason)
              for r, reason in kept_with_reasons],
        retire=[Retirement(release_id=r.release_id, status=r.status, version=r.version, commit_time=commit_time(r))
                for r in retiring])
    referenced = referenced_images(stream_name, every)
    retirements = {r.release_id: r for r in result.retire}
    for region in sorted({*all_regions(), *(region for r in [*kept, *retiring] for region in r.regions)}):
        try:
            parts, restores = _inspect_region(region, stream, retiring, kept,
                                              {**named_by_latest(stream, region), **referenced})
        except (ClientError, BotoCoreError) as error:
            result.errors[region] = describe(error)
            continue
        for release_id, part in parts.items():
            retirements[release_id].regions[region] = part
        result.restore += restores
    try:
        _plan_files(stream_name, result.retire, kept)
    except (ClientError, BotoCoreError) as error:
        result.errors[DOWNLOADS] = describe(error)
    unreleased = {r.release_id for r in retiring if r.status in ReleaseStatus.ENDED_UNRELEASED}
    result.retire = [r for r in result.retire if r.release_id not in unreleased or r.found_anything]
    return result


def _plan_files(stream_name: str, retire: list[Retirement], kept: list[ReleaseRecord]) -> None:
    """Each retiring version's files, unless the stream metadata offers them or a kept release
    has the same version (its files are the same keys)."""
    named = downloads_named(stream_name)
    kept_versions = {record.version: f"kept by {record.release_id}" for record in kept}
    for retirement in retire:
        files = [found["Key"] for found in s3.objects_under(settings().metadata_bucket,
                                                             builds_prefix(stream_name, retirement.version))]
        reason = named.get(retirement.version) or kept_versions.get(retirement.version)
        if files and reason:
            retirement.files_kept = reason
        else:
            retirement.files = sorted(files)


# -- changing ---------------------------------------------------------------------------------

def _change(result: RetentionResult, region: str, item: str,
            action: Callable[[], object]) -> Literal["done", "gone", "failed"]:
    """One call to AWS; a failure is reported under its region, and the caller goes on."""
    try:
        action()
    except (ClientError, BotoCoreError) as error:
        if isinstance(error, ClientError) and code_of(error) in GONE:
            return "gone"
        result.errors.setdefault(region, []).append(f"{item}: {describe(error)}")
        return "failed"
    return "done"


def _remove(result: RetentionResult, region: str, item: str, action: Callable[[], object],
            removed: list[str]) -> bool:
    """True when the item is gone, whether removed now or before."""
    outcome = _change(result, region, item, action)
    if outcome != "failed":
        (removed if outcome == "done" else result.already_gone).append(f"{region}:{item}")
    return outcome != "failed"


def _retire_region(region: str, part: RegionRetirement, named: dict[str, str], result: RetentionResult) -> None:
    """Parameters first, so nothing resolves to an image that is going; an image's snapshots
    only once it is deregistered, as EC2 refuses to delete a snapshot behind an image. An image
    ``named`` now (the stream metadata as it is, not as the plan read it) stays."""
    for name in part.parameters:
        _remove(result, region, name, partial(ssm.delete_parameter, region, name), result.deleted_parameters)
    for image in part.images:
        if image.image_id in named:
            result.named_since.append(f"{region}:{image.image_id}: {named[image.image_id]}")
            continue
        if not _unprotected(region, image, result):
            continue
        if _remove(result, region, image.image_id, partial(ec2.deregister_image, region, image.image_id),
                   result.deregistered):
            for snapshot in image.snapshots:
                _remove(result, region, snapshot, partial(ec2.delete_snapshot, region, snapshot),
                        result.deleted_snapshots)
    for snapshot in part.orphan_snapshots:
        _remove(result, region, snapshot, partial(ec2.delete_snapshot, region, snapshot), result.deleted_snapshots)


def _unprotected(region: str, image: Image, result: RetentionResult) -> bool:
    """Deregistration protection off, if the plan found it on; False when it stays on."""
    if not image.protected_from_deregistration:
        return True
    outcome = _change(result, region, image.image_id,
                      partial(ec2.unprotect_from_deregistration, region, image.image_id))
    if outcome == "done":
        result.unprotected.append(f"{region}:{image.image_id}")
    return outcome != "failed"


def _make_public(restore: Restore, result: RetentionResult) -> None:
    region = restore.region
    outcome = _change(result, region, restore.image_id, partial(share_image_publicly, region, restore.image_id))
    if outcome == "gone":
        result.errors.setdefault(region, []).append(f"{restore.image_id}: gone before it was made public again")
    if outcome != "done":
        return
    result.made_public.append(f"{region}:{restore.image_id}")
    for snapshot in restore.snapshots:
        if _change(result, region, snapshot, partial(share_snapshot_publicly, region, snapshot)) == "done":
            result.made_public.append(f"{region}:{snapshot}")


def _retire_files(stream: str, retirement: Retirement, result: RetentionResult) -> None:
    """The files go with their release, every version of them (the bucket is versioned: a plain
    delete would leave their bytes billed); a key already gone is no error to S3."""
    if not retirement.files:
        return
    bucket, planned = settings().metadata_bucket, set(retirement.files)
    try:
        versions = s3.versions_under(bucket, builds_prefix(stream, retirement.version))
        s3.delete_versions(bucket, [(key, version) for key, version in versions if key in planned])
    except (ClientError, BotoCoreError) as error:
        result.errors.setdefault(DOWNLOADS, []).append(f"{retirement.release_id}: {describe(error)}")
        return
    result.deleted_files += retirement.files


def _all_gone(retirement: Retirement, plan: RetentionPlan, result: RetentionResult) -> bool:
    if retirement.protected or retirement.files_kept or plan.errors:
        return False
    gone = {*result.deregistered, *result.deleted_snapshots, *result.deleted_parameters, *result.already_gone,
            *result.deleted_files}
    return all(item in gone for items in retirement.removals().values() for item in items)


def _still_as_planned(retirement: Retirement, result: RetentionResult) -> bool:
    """A release retried (or filled in) since the plan was made is not the plan's any more."""
    record = records.get(retirement.release_id)
    if record is not None and record.status == retirement.status:
        return True
    result.skipped.append(f"{retirement.release_id}: {record.status if record else 'no longer recorded'} since "
                          f"the plan ({retirement.status})")
    return False


def apply(plan: RetentionPlan) -> RetentionResult:
    """Do what the plan says. Every region is attempted whatever fails elsewhere; a release is
    recorded as retired only when everything of it is gone and no image of it is protected."""
    result = RetentionResult()
    retiring = [r for r in plan.retire if _still_as_planned(r, result)]
    # A release announced between plan and apply may name a retiring image again (a fill-in run,
    # a rerun reusing it): what the metadata names now is read once more, before protection is lifted.
    named = _named_by_stream_metadata(plan.stream) if retiring else {}
    for retirement in retiring:
        for region, part in sorted(retirement.regions.items()):
            _retire_region(region, part, named, result)
        _retire_files(plan.stream, retirement, result)
    for restore in plan.restore:
        _make_public(restore, result)
    for retirement in retiring:
        if not _all_gone(retirement, plan, result):
            continue
        try:
            records.mark_retired(retirement.release_id, retirement.removals(), retirement.status)
            result.retired.append(retirement.release_id)
        except (ClientError, BotoCoreError) as error:
            result.errors.setdefault(RECORDS, []).append(f"{retirement.release_id}: {describe(error)}")
    return result


def run(stream_name: str, dry_run: bool, now: datetime | None = None) -> RetentionRun:
    planned = plan(stream_name, now)
    outcome = RetentionRun(stream=stream_name, dry_run=dry_run, plan=planned,
                           result=None if dry_run else apply(planned))
    logger.info("retention", extra={"stream": stream_name, "dry_run": dry_run, "lines": outcome.lines()})
    if outcome.result and outcome.result.errors:
        logger.warning("retention could not do everything", extra={"stream": stream_name,
                                                                  "errors": outcome.result.errors})
    return outcome


def run_all(dry_run: bool, now: datetime | None = None) -> RetentionRuns:
    """Every configured stream; a stream that cannot be planned is reported and the others go on."""
    runs = RetentionRuns()
    for name in sorted(load_streams().streams):
        try:
            runs.runs.append(run(name, dry_run, now))
        except (ClientError, BotoCoreError) as error:
            logger.exception("retention could not plan the stream", extra={"stream": name})
            runs.failed[name] = describe(error)
    return runs


def scheduled_run() -> list[str]:
    """The daily run, dry unless RETENTION_DRY_RUN says otherwise: every stream, then the Lambda
    fails naming each stream it could not finish, so that its Errors alarm fires."""
    runs = run_all(dry_run=settings().retention_dry_run)
    fail_loudly("retention", RETENTION_ERRORS, "stream", runs.failures())
    return runs.lines()


# -- describing -------------------------------------------------------------------------------

def _with_snapshots(image: Image) -> str:
    return " + ".join([image.image_id, *image.snapshots])


def _retirement_lines(retirement: Retirement) -> list[str]:
    head = f"retire {retirement.release_id} ({retirement.version})"
    lines = [f"{head}: file {key}" for key in retirement.files]
    if retirement.files_kept:
        lines.append(f"keep the files of {retirement.release_id} ({retirement.version}): {retirement.files_kept}; the "
                     "release stays recorded as it is")
    if not retirement.regions:
        return [*lines, f"{head}: nothing left in any region"]
    for region, part in sorted(retirement.regions.items()):
        lines += [f"{head}: {region} {_with_snapshots(image)}"
                  + (" (its deregistration protection turned off first)" if image.protected_from_deregistration else "")
                  for image in part.images]
        lines += [f"{head}: {region} {snapshot} (a snapshot behind no image)" for snapshot in part.orphan_snapshots]
        lines += [f"{head}: {region} parameter {name}" for name in part.parameters]
        lines += [f"protected {region} {_with_snapshots(p)} of {retirement.release_id} ({retirement.version}): "
                  f"{p.reason}; the release stays recorded as it is" for p in part.protected]
    return lines
