"""Benchmark: one local release for 2 architectures x 30 regions.

Prints wall seconds, state transitions (StateEntered events), Lambda invocations and polling
iterations, then the same figures as one line of JSON. Targets: <= 240 transitions, <= 8 s."""


from atomic_release.cli.local_release import run
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.synthetic import synthetic_release

REGIONS = 30
TARGETS = {"transitions": 240, "wall_s": 8.0}


def measure() -> dict:
    release = synthetic_release("stable", "43.20261125.3.0", REGIONS)
    with LocalRuntime() as runtime:
        result = run(runtime, release)
    if result.status != "SUCCEEDED":
        raise SystemExit(f"release {result.status}: {result.failure}")
    figures = {"wall_s": result.wall_s, "transitions": result.transitions,
               "lambda_invocations": result.lambda_invocations, "polls": result.polls}
    print(f"local release, {len(release.commits)} architectures x {REGIONS} regions")
    for name, value in figures.items():
        target = f"  (target <= {TARGETS[name]})" if name in TARGETS else ""
        print(f"  {name:<19} {value}{target}")
    return figures

