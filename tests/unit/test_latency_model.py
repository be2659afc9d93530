"""The latency model's arithmetic: estimates from samples, the critical path, seeded sampling."""

import random

import pytest

from chalicelib.plan.latency import (
    DEFAULT_MODEL,
    DEFAULTS,
    STAGES,
    Durations,
    Estimate,
    LatencyModel,
    critical_path,
    from_samples,
)


def test_an_estimate_from_samples_is_their_median_and_inclusive_p90():
    # sorted: 10 20 30 40 50; p90 at position 0.9 * 4 = 3.6: 40 + 0.6 * 10
    estimate = from_samples([50, 10, 40, 20, 30])
    assert (estimate.median_s, estimate.p90_s, estimate.samples, estimate.source) == (30, 46.0, 5, "history")


def test_one_sample_is_its_own_median_and_p90():
    assert (from_samples([7]).median_s, from_samples([7]).p90_s) == (7, 7)


def test_equal_samples_make_an_equal_p90_despite_rounding():
    # the interpolation between 0.039 and 0.039 computes 0.03899999999999999
    assert (from_samples([0.039, 0.039]).median_s, from_samples([0.039, 0.039]).p90_s) == (0.039, 0.039)


def test_no_sample_makes_no_estimate():
    with pytest.raises(ValueError, match="at least one sample"):
        from_samples([])


def test_a_p90_below_the_median_is_refused():
    with pytest.raises(ValueError, match="median <= p90"):
        Estimate(10, 5, 1, "history")


def test_every_stage_has_a_default_that_names_its_source():
    assert set(DEFAULTS) == set(STAGES)
    assert all(estimate.samples == 0 and estimate.source for estimate in DEFAULTS.values())


def test_a_model_without_every_stage_is_refused():
    with pytest.raises(ValueError, match="missing: copy"):
        LatencyModel(stages={stage: e for stage, e in DEFAULTS.items() if stage != "copy"})


def test_the_critical_path_takes_the_slowest_architecture_and_region():
    durations = Durations(
        once={"prepare": 1, "check_build": 2, "preflight": 3, "validate": 4, "announce": 5, "marketplace": 999},
        per_arch={"x86_64": {"build": 100, "register": 10, "qa": 20, "evaluate": 1},
                  "arm64": {"build": 90, "register": 30, "qa": 20, "evaluate": 1}},
        per_region={"us-east-1": {"copy": 0, "publish": 5}, "eu-west-1": {"copy": 300, "publish": 5},
                    "ap-south-1": {"copy": 290, "publish": 20}})
    path = critical_path(durations)
    # arm64: 141 > x86_64: 131; ap-south-1: 310 > eu-west-1: 305; Marketplace follows the public release
    assert [(s.stage, s.where) for s in path.steps] == [
        ("prepare", None), ("build", "arm64"), ("register", "arm64"), ("qa", "arm64"), ("evaluate", "arm64"),
        ("check_build", None), ("preflight", None), ("copy", "ap-south-1"), ("publish", "ap-south-1"),
        ("validate", None), ("announce", None)]
    assert path.total_s == 1 + 141 + 2 + 3 + 310 + 4 + 5


def test_the_base_region_copies_nothing():
    durations = DEFAULT_MODEL.durations(["x86_64"], ["us-east-1", "eu-west-1"], "us-east-1", "p90")
    assert durations.per_region["us-east-1"]["copy"] == 0
    assert durations.per_region["eu-west-1"]["copy"] == DEFAULTS["copy"].p90_s


def test_a_region_with_its_own_history_copies_at_its_own_pace():
    model = LatencyModel(copy_by_region={"ap-south-1": Estimate(4000, 5000, 3, "history")})
    durations = model.durations(["x86_64"], ["us-east-1", "ap-south-1", "eu-west-1"], "us-east-1")
    assert durations.per_region["ap-south-1"]["copy"] == 4000
    assert durations.per_region["eu-west-1"]["copy"] == DEFAULTS["copy"].median_s


def test_sampling_is_deterministic_with_a_seed_and_spread_around_the_median():
    regions = [f"region-{n}" for n in range(200)]
    first = DEFAULT_MODEL.sample(["x86_64", "arm64"], regions, "region-0", random.Random(7))
    again = DEFAULT_MODEL.sample(["x86_64", "arm64"], regions, "region-0", random.Random(7))
    other = DEFAULT_MODEL.sample(["x86_64", "arm64"], regions, "region-0", random.Random(8))
    assert first == again != other
    copies = sorted(first.per_region[r]["copy"] for r in regions[1:])
    assert copies[0] < DEFAULTS["copy"].median_s < copies[-1]


def test_a_stage_without_spread_samples_its_median():
    assert Estimate(5, 5, 0, "fixed").sample(random.Random(1)) == 5
