"""How long a release takes, stage by stage: a median and a p90 per stage (per region for the
copies), from the stream's own history where there is one, else from documented defaults
(docs/plan.md#defaults says where each comes from).

The critical path is what AWS's and the guests' own work takes when the pipeline reacts at once:
Prepare, the slowest architecture's build, CheckBuild and Preflight, the slowest region's copy and
publish, then Validate and Announce. Everything a run takes beyond it is the pipeline's own delay
(waits, polls, queues)."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

# Every stage the model knows, in the order a release runs them.
ONCE_BEFORE = ("prepare",)
PER_ARCH = ("build", "register", "qa", "evaluate")
ONCE_BETWEEN = ("check_build", "preflight")
PER_REGION = ("copy", "publish")
ONCE_AFTER = ("validate", "announce")
AFTER_PUBLIC = ("marketplace",)   # follows the public release: not on the way to it
STAGES = (*ONCE_BEFORE, *PER_ARCH, *ONCE_BETWEEN, *PER_REGION, *ONCE_AFTER, *AFTER_PUBLIC)

Quantile = Literal["median", "p90"]
# The z-score of the 90th percentile of a normal distribution: a log-normal stage time is
# fitted to a median and a p90 with it.
Z_90 = 1.2815515655446004


@dataclass(frozen=True)
class Estimate:
    median_s: float
    p90_s: float
    samples: int      # releases it was read from; 0: a documented default
    source: str       # "history" or the default's source

    def __post_init__(self):
        if not 0 <= self.median_s <= self.p90_s:
            raise ValueError(f"an estimate needs 0 <= median <= p90, not {self.median_s} and {self.p90_s}")

    def at(self, quantile: Quantile) -> float:
        return self.median_s if quantile == "median" else self.p90_s

    def sample(self, rng: random.Random) -> float:
        """One stage time drawn from the log-normal distribution with this median and p90."""
        if self.median_s == 0 or self.p90_s == self.median_s:
            return self.median_s
        sigma = math.log(self.p90_s / self.median_s) / Z_90
        return self.median_s * math.exp(sigma * rng.gauss(0.0, 1.0))


def from_samples(seconds: Iterable[float]) -> Estimate:
    """The median and p90 of measured stage times. The p90 is the inclusive quantile
    (statistics.quantiles, method "inclusive"): interpolated between the samples, never beyond them."""
    values = sorted(seconds)
    if not values:
        raise ValueError("an estimate from history needs at least one sample")
    median = statistics.median(values)
    p90 = values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]
    # Interpolating between equal values can land a rounding error below them: 0.039 twice
    # gives 0.03899999999999999.
    return Estimate(median, max(p90, median), len(values), "history")


# The defaults, each with where it comes from (docs/plan.md#defaults says more).
_TASK = "assumed: a task Lambda of a few AWS API calls"
DEFAULTS: dict[str, Estimate] = {
    "prepare": Estimate(2, 5, 0, _TASK),
    "build": Estimate(600, 900, 0, "assumed: an EC2 boot (~1 min), the builder's packages, pulling and deploying the "
                                   "commit (20 s and 2 s measured here, GUESTS.md), two compressed disk images uploaded"),
    "register": Estimate(300, 600, 0, "assumed: CreateSnapshot of the builder's disk (AWS states no duration; a "
                                      "volume's first snapshot copies every written block), RegisterImage"),
    "qa": Estimate(180, 300, 0, "GUESTS.md: 115-133 s to the user-data script's marker under QEMU TCG; the checks' "
                                "report"),
    "evaluate": Estimate(2, 5, 0, _TASK),
    "check_build": Estimate(1, 3, 0, _TASK),
    "preflight": Estimate(5, 15, 0, _TASK + " per region"),
    "copy": Estimate(1800, 3600, 0, "REFERENCE.md: CopyImage has no stated duration; 30 minutes and more per region "
                                    "are normal"),
    "publish": Estimate(5, 15, 0, _TASK + " (launch permissions, SSM parameters)"),
    "validate": Estimate(10, 30, 0, _TASK + " per region"),
    "announce": Estimate(10, 30, 0, _TASK + " (stream metadata, SNS, EventBridge)"),
    "marketplace": Estimate(2400, 3600, 0, "REFERENCE.md: Marketplace copies and scans the AMI, typically under "
                                           "an hour"),
}


@dataclass(frozen=True)
class Durations:
    """One release's seconds per stage: what the model predicts, or what one run took."""
    once: Mapping[str, float]                       # ONCE_BEFORE, ONCE_BETWEEN, ONCE_AFTER, AFTER_PUBLIC
    per_arch: Mapping[str, Mapping[str, float]]     # arch -> PER_ARCH
    per_region: Mapping[str, Mapping[str, float]]   # region -> PER_REGION; the base region copies nothing


@dataclass(frozen=True)
class Step:
    stage: str
    where: str | None     # the architecture or region it is the slowest of
    seconds: float


@dataclass(frozen=True)
class CriticalPath:
    steps: tuple[Step, ...]

    @property
    def total_s(self) -> float:
        return sum(step.seconds for step in self.steps)


def critical_path(durations: Durations) -> CriticalPath:
    """The steps from the commit to the public release when nothing waits on anything but work:
    the slowest architecture's build steps and the slowest region's copy and publish."""
    arch = max(durations.per_arch, key=lambda a: (sum(durations.per_arch[a].values()), a))
    region = max(durations.per_region, key=lambda r: (sum(durations.per_region[r].values()), r))
    steps = [Step(stage, None, durations.once[stage]) for stage in ONCE_BEFORE]
    steps += [Step(stage, arch, durations.per_arch[arch][stage]) for stage in PER_ARCH]
    steps += [Step(stage, None, durations.once[stage]) for stage in ONCE_BETWEEN]
    steps += [Step(stage, region, durations.per_region[region][stage]) for stage in PER_REGION]
    steps += [Step(stage, None, durations.once[stage]) for stage in ONCE_AFTER]
    return CriticalPath(tuple(steps))


@dataclass(frozen=True)
class LatencyModel:
    stages: Mapping[str, Estimate] = field(default_factory=lambda: dict(DEFAULTS))
    copy_by_region: Mapping[str, Estimate] = field(default_factory=dict)   # where history has the region's own

    def __post_init__(self):
        missing = [stage for stage in STAGES if stage not in self.stages]
        if missing:
            raise ValueError(f"a latency model needs every stage; missing: {', '.join(missing)}")

    def estimate(self, stage: str, region: str | None = None) -> Estimate:
        if stage == "copy" and region is not None and region in self.copy_by_region:
            return self.copy_by_region[region]
        return self.stages[stage]

    def durations(self, arches: Iterable[str], regions: Iterable[str], base_region: str,
                  quantile: Quantile = "median") -> Durations:
        return self._durations(arches, regions, base_region, lambda stage, region: self.estimate(
            stage, region).at(quantile))

    def sample(self, arches: Iterable[str], regions: Iterable[str], base_region: str,
               rng: random.Random) -> Durations:
        """One release's stage times drawn from the model: the same ``rng`` state, the same times."""
        return self._durations(arches, regions, base_region, lambda stage, region: self.estimate(
            stage, region).sample(rng))

    def _durations(self, arches, regions, base_region, seconds) -> Durations:
        once = {stage: seconds(stage, None) for stage in (*ONCE_BEFORE, *ONCE_BETWEEN, *ONCE_AFTER, *AFTER_PUBLIC)}
        per_arch = {arch: {stage: seconds(stage, None) for stage in PER_ARCH} for arch in sorted(arches)}
        per_region = {region: {"copy": 0.0 if region == base_region else seconds("copy", region),
                               "publish": seconds("publish", region)} for region in sorted(regions)}
        return Durations(once, per_arch, per_region)


DEFAULT_MODEL = LatencyModel()
