"""The release state machine, written in the order it runs. `make flow` writes it to
release.asl.json beside this file, the definition the stack deploys and the local runtime runs:
edit this file, not the JSON (tests/unit/test_state_machine.py keeps the two equal).

${NameArn} is the ARN of the task Lambda `name`, substituted at deploy time and by the local
runtime. Standard library only: `make flow` needs no virtualenv."""

import json
from pathlib import Path

ASL = Path(__file__).with_name("release.asl.json")

COMMENT = ("atomic-release: an ostree commit per architecture becomes QA-gated, public AMIs in every region of its "
           "stream, recorded in SSM and announced. ${...Arn} are the task Lambdas' ARNs, substituted at deploy time.")
TIMEOUT_SECONDS = 24 * 3600

# Every task retries what the Lambda service throws; what the task itself raises is its own.
LAMBDA_SERVICE_ERRORS = {
    "ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException"],
    "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2, "JitterStrategy": "FULL"}
# A cleanup is retried when it failed itself, too: what it leaves behind costs money.
CLEANUP_FAILED = {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 10, "MaxAttempts": 3, "BackoffRate": 2}

RELEASE = ("release_id", "stream", "version")
ONE_ARCH = (*RELEASE, "region", "arch", "commit")     # a Build iteration's input
REGION_FAILS_NOT_THE_RELEASE = "The region fails, not the release: it is recorded and a fill-in run retries it."


# -- the kinds of state ----------------------------------------------------------------------------

def inputs(*names: str, **paths: str) -> dict:
    """Parameters read from the input: each of `names` at $.name, each of `paths` where it says."""
    return {**{f"{name}.$": f"$.{name}" for name in names}, **{f"{name}.$": path for name, path in paths.items()}}


def caught(then: str, result: str = "$.failure") -> list[dict]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result, "Next": then}]


def task(function: str, parameters: dict, *, then: str | None, result: str | None = None,
         output: str | None = None, retry: tuple[dict, ...] = (), catch: list[dict] | None = None,
         comment: str | None = None) -> dict:
    """A Lambda task; `then` None ends its scope."""
    state = {"Type": "Task", "Comment": comment, "Resource": f"${{{function}Arn}}", "Parameters": parameters}
    return _lambda_task(state, then=then, result=result, output=output, retry=retry, catch=catch)


def callback(function: str, payload: dict, *, timeout: int, heartbeat: int | None = None, then: str,
             result: str, catch: list[dict]) -> dict:
    """A Lambda task that returns when a guest hands its task token back, or times out."""
    state = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
             "Parameters": {"FunctionName": f"${{{function}Arn}}",
                            "Payload": {**payload, **inputs(task_token="$$.Task.Token")}},
             "TimeoutSeconds": timeout, "HeartbeatSeconds": heartbeat}
    return _lambda_task(state, then=then, result=result, catch=catch)


def _lambda_task(state: dict, *, then: str | None, result: str | None, catch: list[dict] | None,
                 output: str | None = None, retry: tuple[dict, ...] = ()) -> dict:
    """What every Lambda task has: where its result goes, its retries (the Lambda service's errors
    first), its catch, and what follows it; the fields it does not set are left out."""
    state |= {"ResultPath": result, "OutputPath": output, "Retry": [LAMBDA_SERVICE_ERRORS, *retry], "Catch": catch}
    state |= {"Next": then} if then else {"End": True}
    return {key: value for key, value in state.items() if value is not None}


def for_each(items: str, item: dict, states: dict, *, then: str, result: str, catch: list[dict],
             **concurrency: str | int) -> dict:
    """A Map state: `states` (the first one starts) run once per item, inline."""
    return {"Type": "Map", "ItemsPath": items, **concurrency, "ItemSelector": item,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": next(iter(states)), "States": states},
            "ResultPath": result, "Catch": catch, "Next": then}


def choice(choices: list[dict], *, otherwise: str, comment: str) -> dict:
    return {"Type": "Choice", "Comment": comment, "Choices": choices, "Default": otherwise}


def failed(stage: str, then: str) -> dict:
    """Names the stage a caught failure stopped, for the cleanup that follows."""
    return {"Type": "Pass", "Parameters": {"stage": stage, **inputs(caught="$.failure")}, "ResultPath": "$.failure",
            "Next": then}


def region_failed(stage: str, region: str) -> dict:
    """Ends a region's iteration with a failed RegionOutcome."""
    return {"Type": "Pass", "Comment": REGION_FAILS_NOT_THE_RELEASE,
            "Parameters": {**inputs(region=region, reason="$.failure.Cause"), "status": "failed", "stage": stage},
            "End": True}


# -- the flow, stage by stage ----------------------------------------------------------------------

def prepare() -> dict:
    return {
        "Prepare": task("Prepare", inputs(release="$", execution_arn="$$.Execution.Id"), result="$",
                        then="AlreadyBuilt"),
        "AlreadyBuilt": choice([{"Variable": "$.images", "IsPresent": True, "Next": "Preflight"}], otherwise="Build",
                               comment="A fill-in run distributes the images the release built."),
    }


def build() -> dict:
    return {
        "Build": for_each("$.arches", inputs(*RELEASE, region="$.base_region", arch="$$.Map.Item.Value.arch",
                                             commit="$$.Map.Item.Value.commit"),
                          build_one_arch(), result="$.images", catch=caught("BuildFailed"), then="CheckBuild"),
        "CheckBuild": task("CheckBuild", inputs("release_id", results="$.images"), result="$.images",
                           catch=caught("BuildFailed"), then="Preflight"),
    }


def build_one_arch() -> dict:
    resource_not_ready = {"ErrorEquals": ["ResourceNotReady"], "IntervalSeconds": 60, "MaxAttempts": 4,
                          "BackoffRate": 2}
    return {
        "LaunchBuilder": callback("LaunchBuilder", inputs(*ONE_ARCH), timeout=7200, heartbeat=900, result="$.builder",
                                  catch=caught("LaunchBuilderFailed"), then="RegisterImage"),
        "RegisterImage": task("RegisterImage", inputs(*ONE_ARCH, "builder"), result="$.image",
                              retry=(resource_not_ready,), catch=caught("RegisterImageFailed"), then="LaunchQA"),
        "LaunchQA": callback("LaunchQa", inputs(*ONE_ARCH, "image"), timeout=3600, result="$.qa",
                             catch=caught("QAFailed"), then="EvaluateQA"),
        "EvaluateQA": task("EvaluateQa", inputs(*ONE_ARCH, "image", "qa"), result="$.image", output="$.image",
                           catch=caught("EvaluateQAFailed"), then=None),
        "LaunchBuilderFailed": failed("launch-builder", then="CleanupArch"),
        "RegisterImageFailed": failed("register-image", then="CleanupArch"),
        "QAFailed": failed("qa", then="CleanupArch"),
        "EvaluateQAFailed": failed("evaluate-qa", then="CleanupArch"),
        "CleanupArch": task("CleanupArch", inputs(*ONE_ARCH, stage="$.failure.stage", caught="$.failure.caught"),
                            result="$.failure", retry=(CLEANUP_FAILED,),
                            catch=caught("ArchFailed", result="$.cleanup_failure"), then="ArchFailed"),
        "ArchFailed": {"Type": "Pass", "Comment": "The iteration ends without failing the map, so the other "
                                                  "architecture finishes (and cleans up) before the release is failed.",
                       "Parameters": inputs("arch", failed="$.failure"), "End": True},
    }


def preflight() -> dict:
    return {
        "Preflight": task("Preflight", inputs(*RELEASE, "regions", "images"), result="$.preflight",
                          catch=caught("PreflightFailed"), then="Distribute"),
    }


def copy() -> dict:
    copy_throttled = {"ErrorEquals": ["CopyThrottled"], "IntervalSeconds": 30, "MaxAttempts": 10, "BackoffRate": 2,
                      "MaxDelaySeconds": 600, "JitterStrategy": "FULL"}
    one_region = (*RELEASE, "base_region", "region", "images", "arches", "attempt")
    copy_to_region = {
        "CopyToRegion": task("CopyToRegion", inputs(*one_region), retry=(copy_throttled,),
                             catch=caught("CopyFailed"), then=None),
        "CopyFailed": region_failed("copy", region="$.region"),
    }
    return {
        "Distribute": for_each("$.preflight.ready",
                               inputs(*RELEASE, "base_region", "images", "arches", "attempt",
                                      region="$$.Map.Item.Value"),
                               copy_to_region, MaxConcurrencyPath="$.copy_concurrency",
                               result="$.distribution.copies", catch=caught("DistributeFailed"),
                               then="FollowCopies"),
        "FollowCopies": task("FollowCopies", inputs(*RELEASE, copies="$.distribution.copies",
                                                    expected_copy_s="$.preflight.expected.copy_s",
                                                    execution_started_at="$$.Execution.StartTime",
                                                    execution_arn="$$.Execution.Id"),
                             result="$.distribution", catch=caught("DistributeFailed"), then="CopiesDone",
                             comment="Publishes each region whose copies are available, in the same follow: a "
                                     "region never waits for a slower one."),
        "CopiesDone": choice([{"Variable": "$.distribution.pending", "BooleanEquals": False, "Next": "Validate"}],
                             otherwise="WaitForCopies",
                             comment="One task follows every region's copies: each wait costs 3 transitions, for 3 "
                                     "regions as for 30."),
        "WaitForCopies": {"Type": "Wait", "SecondsPath": "$.distribution.wait_seconds", "Next": "FollowCopies",
                          "Comment": "Until the earliest pending copy is due, then a backstop that grows with the "
                                     "run's time (docs/flow.md#when-the-copies-are-followed)."},
    }


def validate() -> dict:
    return {
        "Validate": task("Validate", inputs(*RELEASE, "attempt", published="$.distribution.published",
                                            skipped="$.preflight.skipped",
                                            copy_failed="$.distribution.failed"),
                         result="$.validation", catch=caught("ValidateFailed"), then="Announce"),
    }


def announce() -> dict:
    return {
        "Announce": task("Announce", inputs(*RELEASE, "arches", "attempt", "images", regions="$.validation.regions",
                                            skipped="$.preflight.skipped", copy_failed="$.distribution.failed"),
                         result="$.announcement",
                         catch=[{"ErrorEquals": ["AnnouncedThenFailed"], "ResultPath": "$.announcement.caught",
                                 "Next": "AnnouncedThenFailed"}, *caught("AnnounceFailed")],
                         then="RecordPublication",
                         comment="Once the stream metadata names the release, what fails is AnnouncedThenFailed: the "
                                 "release is out, recorded published with errors."),
    }


# What Finalize records, read twice: when the release is out, and when Marketplace has settled.
FINALIZE_READS = inputs(*RELEASE, "attempt", "arches", "images", "announcement", "marketplace",
                        regions="$.validation.regions", skipped="$.preflight.skipped",
                        copy_failed="$.distribution.failed")


def marketplace() -> dict:
    marketplace_throttled = {"ErrorEquals": ["MarketplaceThrottled"], "IntervalSeconds": 30, "MaxAttempts": 5,
                             "BackoffRate": 2, "MaxDelaySeconds": 300, "JitterStrategy": "FULL"}
    return {
        "RecordPublication": task(
            "Finalize", FINALIZE_READS, result="$.result", catch=caught("FinalizeFailed"), then="KeepWhatFinalizeReads",
            comment="The release is out: its images, regions and metadata are recorded before Marketplace is followed "
                    "for hours; the record says PUBLISHED until Finalize settles it."),
        "KeepWhatFinalizeReads": {
            "Type": "Pass",
            "Comment": "The Marketplace loop may run for hours: carry only what Finalize and FailRelease read, not "
                       "every stage's output.",
            "Parameters": {**inputs(*RELEASE, "attempt", "arches", "images", "regions"),
                           "preflight": inputs(skipped="$.preflight.skipped", expected="$.preflight.expected"),
                           "distribution": inputs(failed="$.distribution.failed"),
                           "validation": inputs(regions="$.validation.regions"),
                           **inputs("announcement", "marketplace", "result")},
            "Next": "MarketplaceSettled"},
        "MarketplaceSettled": choice(
            [{"And": [{"Variable": "$.marketplace.pending", "BooleanEquals": False},
                      {"Variable": "$.marketplace.started_at", "IsPresent": False}], "Next": "Released"},
             {"Variable": "$.marketplace.pending", "BooleanEquals": False, "Next": "Finalize"},
             {"Variable": "$.marketplace.started_at", "IsPresent": False, "Next": "Marketplace"}],
            otherwise="WaitForMarketplace",
            comment="Released at once when no product is planned; else the first check at once, then one per wait, "
                    "one task for every product, until each change set has settled."),
        "WaitForMarketplace": {"Type": "Wait", "SecondsPath": "$.marketplace.wait_seconds", "Next": "Marketplace"},
        "Marketplace": task(
            "Marketplace", inputs(*RELEASE, "attempt", "arches", "images", "marketplace",
                                  expected_s="$.preflight.expected.marketplace_s",
                                  execution_started_at="$$.Execution.StartTime"),
            result="$.marketplace", retry=(marketplace_throttled,),
            catch=caught("Finalize", result="$.marketplace.caught"), then="MarketplaceSettled",
            comment="The images are public and announced: a failure here is recorded by Finalize "
                    "(PUBLISHED_WITH_ERRORS), never a failed release."),
    }


def finalize() -> dict:
    return {
        "Finalize": task("Finalize", FINALIZE_READS, result="$.result", output="$.result",
                         catch=caught("FinalizeFailed"), then=None),
        "Released": {"Type": "Succeed", "Comment": "No Marketplace product: what RecordPublication recorded is the "
                                                   "release's end.", "OutputPath": "$.result"},
    }


FAIL_RELEASE_READS = inputs("release_id", "stream", "regions", "attempt", stage="$.failure.stage",
                            caught="$.failure.caught", execution_arn="$$.Execution.Id")


def fail_release() -> dict:
    """Where every stage's caught failure ends: FailRelease cleans up and records why; after
    Announce, FailPublishedRelease records the release published with errors instead."""
    return {
        "BuildFailed": failed("build", then="FailRelease"),
        "PreflightFailed": failed("preflight", then="FailRelease"),
        "DistributeFailed": failed("distribute", then="FailRelease"),
        "ValidateFailed": failed("validate", then="FailRelease"),
        "AnnounceFailed": failed("announce", then="FailRelease"),
        "AnnouncedThenFailed": {**failed("announce", then="FailPublishedRelease"),
                                "Parameters": {"stage": "announce", **inputs(caught="$.announcement.caught")}},
        "FinalizeFailed": failed("finalize", then="FailPublishedRelease"),
        "FailRelease": task("FailRelease", FAIL_RELEASE_READS, result="$.failure", retry=(CLEANUP_FAILED,),
                            then="ReleaseFailed"),
        "FailPublishedRelease": task(
            "FailRelease", {**FAIL_RELEASE_READS, "published": FINALIZE_READS}, result="$.failure",
            retry=(CLEANUP_FAILED,), then="ReleaseFailed",
            comment="Announce has named the release's images: FailRelease removes nothing and records the release "
                    "PUBLISHED_WITH_ERRORS with what Finalize would record, never FAILED."),
        "ReleaseFailed": {"Type": "Fail", "ErrorPath": "$.failure.error", "CausePath": "$.failure.cause"},
    }


def definition() -> dict:
    states = {}
    for stage in (prepare, build, preflight, copy, validate, announce, marketplace, finalize, fail_release):
        added = stage()
        if states.keys() & added.keys():
            raise ValueError(f"{stage.__name__} names states again: {sorted(states.keys() & added.keys())}")
        states |= added
    return {"Comment": COMMENT, "StartAt": next(iter(states)), "TimeoutSeconds": TIMEOUT_SECONDS, "States": states}


def render() -> str:
    return json.dumps(definition(), indent=2) + "\n"


if __name__ == "__main__":
    ASL.write_text(render())
    print(ASL.name)
