"""What a release costs, and what a stream's policy costs each month: pure arithmetic on what one
release uses (``ReleaseUsage``) and a price book (chalicelib/plan/prices.py); docs/plan.md#cost
gives the formulas and a worked example that tests/unit/test_cost.py checks to the cent.

Amounts are exact decimals; only ``Cost.as_dict`` rounds, to the cent, for display."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from chalicelib.aws import s3
from chalicelib.core.arch import Arch
from chalicelib.core.config import Stream
from chalicelib.core.regions import REGIONS_AT_ONCE
from chalicelib.models.artifacts import FORMATS
from chalicelib.models.regions import Expected
from chalicelib.plan import latency, observed
from chalicelib.plan.prices import KINDS, TRANSFER, PriceBook
from chalicelib.stages import distribute, marketplace

CENT = Decimal("0.01")
QUANTITY_SHOWN = Decimal("0.000001")
SECONDS_PER_HOUR = Decimal(3600)
# EBS prorates a GB-month over a 30-day month (Amazon EBS pricing's gp3 example: 43,200 s of a
# 2,000 GB volume are 2,000 x 43,200 / (86,400 x 30) GB-months).
HOURS_PER_MONTH = Decimal(720)
RELEASES_PER_MONTH = {"biweekly": Decimal(26) / Decimal(12)}   # 26 releases a year

# What the release state machine (state_machines/release.py) enters on the way to a published
# release: a StateEntered event is one billed transition; a Task state is one Lambda invocation.
# tests/unit/test_cost.py keeps these names equal to the ASL's.
ONCE = ("Prepare", "AlreadyBuilt", "Build", "CheckBuild", "Preflight", "Distribute", "FollowCopies", "CopiesDone",
        "Validate", "Announce", "RecordPublication", "KeepWhatFinalizeReads", "MarketplaceSettled")
PER_ARCH = tuple(observed.ARCH_STATES)   # LaunchBuilder, RegisterImage, LaunchQA, EvaluateQA
PER_REGION = ("CopyToRegion",)          # the base region's answers with its own images
PER_COPY_WAIT = ("WaitForCopies", "FollowCopies", "CopiesDone")    # each follow after the first
RELEASED = ("Released",)                # the end without Marketplace
MARKETPLACE_FIRST_CHECK = ("Marketplace", "MarketplaceSettled", "Finalize")   # the first check, and the end
PER_MARKETPLACE_WAIT = ("WaitForMarketplace", "Marketplace", "MarketplaceSettled")   # each check after the first
LAMBDA_TASKS = frozenset({"Prepare", "CheckBuild", "Preflight", "FollowCopies", "Validate", "Announce",
                          "RecordPublication", "Finalize", "Marketplace", *PER_ARCH, *PER_REGION})
# Any instant: the wait rules read only the differences between times.
RUN_START = datetime(2026, 1, 1, tzinfo=UTC)


def _tasks(states: tuple[str, ...]) -> int:
    return sum(state in LAMBDA_TASKS for state in states)


# The task functions (.chalice/config.json): 512 MB, x86_64. A task a stage measures runs for that
# stage's time (TIMED_ONCE, TIMED_PER_ARCH: RegisterImage waits for the snapshot, Announce streams
# the images through to check them); a FollowCopies for a task's time and the publish stage of the
# regions it publishes (``follow_seconds``); every other task (LaunchBuilder and LaunchQA hand their
# guest a task token and return) for about LAMBDA_TASK_S.
LAMBDA_MEMORY_GB = Decimal(512) / Decimal(1024)
LAMBDA_ARCH = "x86_64"
LAMBDA_TASK_S = Decimal(2)
TIMED_ONCE = observed.ONCE_STATES
TIMED_PER_ARCH = {state: stage for state, stage in observed.ARCH_STATES.items() if stage in ("register", "evaluate")}
# The builder uploads each compressed image in parts of guest/scripts/builder.sh's PART_BYTES
# (tests/unit/test_cost.py keeps them equal); the documents Announce and Finalize write (stream
# metadata, release, index) add a few more PUTs.
UPLOAD_PART_MIB = 64
COPY_PART_MIB = s3.COPY_PART_BYTES // (1024 * 1024)
DOCUMENT_PUTS = 6


class UnknownCadence(ValueError):
    pass


def releases_per_month(cadence: str, every_commit_per_month: Decimal | None = None) -> Decimal:
    """``biweekly``: 26 a year; ``every-commit``: as many as the caller says (from the stream's history)."""
    if cadence in RELEASES_PER_MONTH:
        return RELEASES_PER_MONTH[cadence]
    if cadence == "every-commit":
        if every_commit_per_month is None:
            raise UnknownCadence("an every-commit stream releases as often as it gets commits: give the releases "
                                 "per month (from its history)")
        return Decimal(every_commit_per_month)
    raise UnknownCadence(f"unknown cadence {cadence!r}")


@dataclass(frozen=True)
class GuestHours:
    role: str             # builder or qa
    arch: str
    instance_type: str
    hours: Decimal


@dataclass(frozen=True)
class ReleaseUsage:
    """What one release uses. Guests, the builder's disk, Step Functions, Lambda and S3 are in the
    base region (``regions[0]``); each image's snapshot is in every region."""
    regions: tuple[str, ...]
    arches: tuple[str, ...]
    guests: tuple[GuestHours, ...]
    builder_disk_gib_hours: Decimal
    snapshot_gib_per_image: Decimal
    snapshot_size_source: str
    state_transitions: int
    lambda_gb_seconds: Decimal
    lambda_invocations: int
    s3_artifact_gib: Decimal
    s3_put_requests: int
    lambda_arch: str = LAMBDA_ARCH


@dataclass(frozen=True)
class Policy:
    keep_releases: int
    releases_per_month: Decimal


@dataclass(frozen=True)
class LineItem:
    what: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    price_note: str | None = None   # where a price file's price comes from, or that it is not the region's own

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Cost:
    per_release: tuple[LineItem, ...]        # once per release
    kept_per_month: tuple[LineItem, ...]     # each month, for the releases the policy keeps
    releases_per_month: Decimal
    keep_releases: int
    prices_source: str
    prices_as_of: date
    snapshot_size_source: str

    @property
    def per_release_usd(self) -> Decimal:
        return sum((item.amount for item in self.per_release), Decimal(0))

    @property
    def kept_per_month_usd(self) -> Decimal:
        return sum((item.amount for item in self.kept_per_month), Decimal(0))

    @property
    def monthly_usd(self) -> Decimal:
        """The policy's steady monthly cost: the kept releases' storage, and the month's releases."""
        return self.kept_per_month_usd + self.releases_per_month * self.per_release_usd

    def as_dict(self) -> dict:
        """For display: amounts rounded to the cent, quantities and prices as computed."""
        def items(line_items):
            return [{"what": i.what, "quantity": plain(i.quantity.quantize(QUANTITY_SHOWN)), "unit": i.unit,
                     "unit_price_usd": plain(i.unit_price), "amount_usd": str(cents(i.amount)),
                     **({"price_note": i.price_note} if i.price_note else {})} for i in line_items]
        return {"per_release": items(self.per_release), "kept_per_month": items(self.kept_per_month),
                "per_release_usd": str(cents(self.per_release_usd)),
                "kept_per_month_usd": str(cents(self.kept_per_month_usd)),
                "releases_per_month": str(self.releases_per_month.quantize(CENT)),
                "keep_releases": self.keep_releases, "monthly_usd": str(cents(self.monthly_usd)),
                "prices": {"source": self.prices_source, "as_of": self.prices_as_of.isoformat()},
                "snapshot_size": self.snapshot_size_source}


def plain(value: Decimal) -> str:
    """Without trailing zeros and never in exponent form (240, not 2.4E+2; 0.0000002, not 2E-7)."""
    return format(value.normalize(), "f")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _line(prices: PriceBook, what: str, quantity: Decimal, kind: str, region: str,
          detail: str | None = None) -> LineItem:
    return LineItem(what, quantity, KINDS[kind][1], prices.price(kind, region, detail),
                    prices.note(kind, region, detail))


def cost(usage: ReleaseUsage, policy: Policy, prices: PriceBook) -> Cost:
    base = usage.regions[0]
    per_release = [_line(prices, f"EC2 {g.role} {g.arch} ({g.instance_type}), {base}", g.hours, "instance-hour", base,
                         g.instance_type) for g in usage.guests]
    per_release += [
        _line(prices, f"EBS gp3 builder disk, {base}", usage.builder_disk_gib_hours / HOURS_PER_MONTH, "gp3-gb-month",
              base),
        _line(prices, f"Step Functions state transitions, {base}", Decimal(usage.state_transitions),
              "state-transition", base),
        _line(prices, f"Lambda duration ({usage.lambda_arch}), {base}", usage.lambda_gb_seconds, "lambda-gb-second",
              base, usage.lambda_arch),
        _line(prices, f"Lambda requests ({usage.lambda_arch}), {base}", Decimal(usage.lambda_invocations),
              "lambda-request", base, usage.lambda_arch),
        _line(prices, f"S3 PUT requests, {base}", Decimal(usage.s3_put_requests), "s3-put-request", base),
    ]
    per_release += copies_transfer(usage, prices)
    images_kept = len(usage.arches) * policy.keep_releases
    kept = [_line(prices, f"EBS snapshots of {images_kept} images, {region}", usage.snapshot_gib_per_image * images_kept,
                  "snapshot-gb-month", region) for region in usage.regions]
    kept.append(_line(prices, f"S3 artifacts of {policy.keep_releases} releases, {base}",
                      usage.s3_artifact_gib * policy.keep_releases, "s3-gb-month", base))
    return Cost(tuple(per_release), tuple(kept), policy.releases_per_month, policy.keep_releases, prices.source,
                prices.as_of, usage.snapshot_size_source)


def copies_transfer(usage: ReleaseUsage, prices: PriceBook) -> list[LineItem]:
    """CopyImage copies each image's snapshot out of the base region to every other: the source
    bills it as inter-region data transfer, per GB, at the pair's price. A release's images come
    from a new builder disk, so each copy is the whole snapshot (the size its storage is priced at),
    never an increment of the last release's."""
    base, images = usage.regions[0], len(usage.arches)
    return [_line(prices, f"Data transfer of {images} snapshot copies, {base} -> {region}",
                  usage.snapshot_gib_per_image * images, TRANSFER, base, region)
            for region in usage.regions[1:] if region != base]


@dataclass(frozen=True)
class UsageHints:
    """What the stream's history knows better than the state machine's shape; None: derived (see
    ``usage``). ``every_commit_per_month``: an every-commit stream's releases per month."""
    snapshot_gib_per_image: Decimal | None = None     # the last release's raw disk image, uncompressed
    artifact_gib_per_arch: Decimal | None = None      # the last release's compressed images of an arch
    state_transitions: int | None = None
    lambda_invocations: int | None = None
    lambda_gb_seconds: Decimal | None = None
    every_commit_per_month: Decimal | None = None


def put_requests_per_image(gib: Decimal) -> int:
    """The requests S3 bills as PUTs for one compressed image: the builder's multipart upload (its
    parts, and the requests that start and complete it), then Announce's copy to the public prefix,
    one CopyObject below the managed copy's part size, else its part copies, started and completed."""
    mib = gib * 1024
    copy = 1 if mib < COPY_PART_MIB else math.ceil(mib / COPY_PART_MIB) + 2
    return math.ceil(mib / UPLOAD_PART_MIB) + 2 + copy


def _hours(seconds: float) -> Decimal:
    return Decimal(str(seconds)) / SECONDS_PER_HOUR


@dataclass(frozen=True)
class Follow:
    """One FollowCopies call: when, from the run's start, and the regions whose copies it finds
    available, and so publishes."""
    at_s: float
    published: tuple[str, ...]


def copy_follows(durations: latency.Durations, expected_copy_s: Mapping[str, float]) -> tuple[Follow, ...]:
    """The follows of a release whose stages take ``durations``, when Preflight expects each
    region's copy to take ``expected_copy_s`` (a region it does not name: its own copy time).

    Every region's copies are requested when Preflight ends on the critical path, and the first
    follow comes at once; each later one after the wait distribute.next_follow_in gives (the run
    started at the critical path's start), until every region's copy is done."""
    steps = latency.critical_path(durations).steps
    requested_s = sum(step.seconds for step in itertools.takewhile(lambda step: step.stage != "copy", steps))
    done_s = {region: requested_s + stages["copy"] for region, stages in durations.per_region.items()}
    due = {region: RUN_START + timedelta(seconds=requested_s + expected_copy_s.get(region, stages["copy"]))
           for region, stages in durations.per_region.items()}
    follows: list[Follow] = []
    at_s, pending = requested_s, set(done_s)
    while pending:
        landed = tuple(sorted(region for region in pending if done_s[region] <= at_s))
        follows.append(Follow(at_s, landed))
        pending -= set(landed)
        if pending:
            requested = RUN_START + timedelta(seconds=requested_s)
            at_s += distribute.next_follow_in([distribute.CopyWindow(requested, due[region]) for region in pending],
                                              RUN_START + timedelta(seconds=at_s), RUN_START)
    return tuple(follows)


def follow_seconds(follow: Follow, durations: latency.Durations) -> Decimal:
    """How long a FollowCopies runs: a task's time, and the longest publish of the regions it
    publishes once per round of REGIONS_AT_ONCE regions."""
    if not follow.published:
        return LAMBDA_TASK_S
    rounds = math.ceil(len(follow.published) / REGIONS_AT_ONCE)
    longest = max(Decimal(str(durations.per_region[region]["publish"])) for region in follow.published)
    return LAMBDA_TASK_S + rounds * longest


def marketplace_checks(settle_s: float, expected_s: float, every_s: int) -> int:
    """The Marketplace checks of a release whose change sets settle ``settle_s`` after they are
    sent, when Preflight expects ``expected_s``: the first check sends them; each later one comes
    after the wait marketplace.next_check_in gives, until one finds them settled."""
    checks, since_sent = 1, 0
    while checks == 1 or since_sent < settle_s:
        since_sent += marketplace.next_check_in([RUN_START], RUN_START + timedelta(seconds=since_sent), expected_s,
                                                every_s)
        checks += 1
    return checks


def _expected(durations: latency.Durations, expected: Expected | None) -> Expected:
    """What Preflight expects; None: what the durations say (the model's medians when the plan
    prices a release, as Preflight reads them from the same model)."""
    own = Expected(copy_s={region: stages["copy"] for region, stages in durations.per_region.items()},
                   marketplace_s=durations.once["marketplace"])
    if expected is None:
        return own
    return Expected(copy_s={**own.copy_s, **expected.copy_s}, marketplace_s=expected.marketplace_s)


def usage(stream: Stream, durations: latency.Durations, regions: list[str], hints: UsageHints,
          expected: Expected | None = None) -> ReleaseUsage:
    """What a release of ``stream`` in ``regions`` (the base first) uses when its stages take
    ``durations`` and Preflight expects ``expected`` (None: the durations).

    Guests: a builder for the build stage and a QA instance for the qa stage, per architecture, of
    the stream's first instance type for it. The builder's target disk (disk_size_gib, gp3) lives
    through build and register. Snapshot: the disk's written blocks, known from the last release's
    raw image, else disk_size_gib as an upper bound. Transitions and Lambda: counted from the state
    machine's shape (constants above), with the copy follows and the Marketplace checks the wait
    rules give (``copy_follows``, ``marketplace_checks``; docs/plan.md#cost)."""
    arches = tuple(sorted(durations.per_arch))
    guests, disk_gib_hours = [], Decimal(0)
    for arch in arches:
        stages, instance_type = durations.per_arch[arch], stream.instance_types[cast(Arch, arch)][0]
        guests += [GuestHours("builder", arch, instance_type, _hours(stages["build"])),
                   GuestHours("qa", arch, instance_type, _hours(stages["qa"]))]
        disk_gib_hours += stream.disk_size_gib * _hours(stages["build"] + stages["register"])
    if hints.snapshot_gib_per_image is not None:
        snapshot_gib, snapshot_source = hints.snapshot_gib_per_image, "the last release's raw disk image"
    else:
        snapshot_gib = Decimal(stream.disk_size_gib)
        snapshot_source = f"disk_size_gib ({stream.disk_size_gib} GiB), an upper bound: no release's image size known"
    expected = _expected(durations, expected)
    follows = copy_follows(durations, expected.copy_s)
    checks = (marketplace_checks(durations.once["marketplace"], expected.marketplace_s,
                                 stream.marketplace.check_every_minutes * 60) if stream.marketplace_arches else 0)
    end = MARKETPLACE_FIRST_CHECK if checks else RELEASED
    later = ((PER_COPY_WAIT, len(follows) - 1), (PER_MARKETPLACE_WAIT, max(checks - 1, 0)))
    n_arches, n_regions = len(arches), len(regions)
    transitions = (len(ONCE) + len(end) + len(PER_ARCH) * n_arches + len(PER_REGION) * n_regions
                   + sum(len(states) * times for states, times in later))
    invocations = (_tasks(ONCE) + _tasks(end) + _tasks(PER_ARCH) * n_arches + _tasks(PER_REGION) * n_regions
                   + sum(_tasks(states) * times for states, times in later))
    timed_s = sum((Decimal(str(durations.once[stage])) for stage in TIMED_ONCE.values()), Decimal(0)) + sum(
        (Decimal(str(durations.per_arch[a][stage])) for a in arches for stage in TIMED_PER_ARCH.values()), Decimal(0))
    following_s = sum((follow_seconds(follow, durations) for follow in follows), Decimal(0))
    untimed = invocations - len(TIMED_ONCE) - len(TIMED_PER_ARCH) * n_arches - len(follows)
    lambda_seconds = untimed * LAMBDA_TASK_S + timed_s + following_s
    artifact_gib = (hints.artifact_gib_per_arch if hints.artifact_gib_per_arch is not None
                    else Decimal(stream.disk_size_gib * len(FORMATS))) * n_arches
    files = n_arches * len(FORMATS)
    puts = (files * put_requests_per_image(artifact_gib / files) if files else 0) + DOCUMENT_PUTS
    return ReleaseUsage(
        regions=tuple(regions), arches=arches, guests=tuple(guests), builder_disk_gib_hours=disk_gib_hours,
        snapshot_gib_per_image=snapshot_gib, snapshot_size_source=snapshot_source,
        state_transitions=hints.state_transitions if hints.state_transitions is not None else transitions,
        lambda_gb_seconds=(hints.lambda_gb_seconds if hints.lambda_gb_seconds is not None
                           else LAMBDA_MEMORY_GB * lambda_seconds),
        lambda_invocations=hints.lambda_invocations if hints.lambda_invocations is not None else invocations,
        s3_artifact_gib=artifact_gib, s3_put_requests=puts)


def release_cost(stream: Stream, durations: latency.Durations, regions: list[str], prices: PriceBook,
                 usage_hints: UsageHints | None = None, expected: Expected | None = None) -> Cost:
    """The cost of the next release of ``stream`` in ``regions`` (the base first), and of its
    policy; ``expected``: what Preflight expects of the copies and Marketplace (None: the durations)."""
    hints = usage_hints or UsageHints()
    policy = Policy(stream.retention.keep_releases, releases_per_month(stream.cadence, hints.every_commit_per_month))
    return cost(usage(stream, durations, regions, hints, expected), policy, prices)
