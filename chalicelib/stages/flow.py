"""Which state of the release state machine belongs to which stage, for what reads an execution's
history: the release view and the local runtime. state_machines/ is not shipped to Lambda, so the
names are written here rather than read from the ASL; tests/unit/test_flow.py keeps the two equal."""

# The top-level stages in flow order, each with its top-level states in flow order.
STATES_OF_STAGE = {
    "prepare": ("Prepare", "AlreadyBuilt"),
    "build": ("Build", "CheckBuild"),
    "preflight": ("Preflight",),
    # the copies, and each region published as soon as its copies are available
    "distribute": ("Distribute", "FollowCopies", "CopiesDone", "WaitForCopies"),
    "validate": ("Validate",),
    "announce": ("Announce",),
    "marketplace": ("RecordPublication", "KeepWhatFinalizeReads", "MarketplaceSettled", "WaitForMarketplace",
                    "Marketplace"),
    "finalize": ("Finalize", "Released"),
}
STAGES = tuple(STATES_OF_STAGE)
STAGE_OF_STATE = {state: stage for stage, states in STATES_OF_STAGE.items() for state in states}

# The failure path: a Pass state per stage says which stage failed, then FailRelease cleans up and
# records why, and ReleaseFailed ends the run. After Announce the release is out: its failures go
# to FailPublishedRelease, which removes nothing and records it PUBLISHED_WITH_ERRORS.
FAILED_STAGE_OF_STATE = {
    "BuildFailed": "build", "PreflightFailed": "preflight", "DistributeFailed": "distribute",
    "ValidateFailed": "validate", "AnnounceFailed": "announce", "AnnouncedThenFailed": "announce",
    "FinalizeFailed": "finalize",
}
# Those of them that lead to FailPublishedRelease: the failures once the stream metadata names the
# release (Announce's own, after it wrote the metadata, and every later stage's).
PUBLISHED_FAILURES = ("AnnouncedThenFailed", "FinalizeFailed")
FAIL_RELEASE = ("FailRelease", "FailPublishedRelease", "ReleaseFailed")

# The Build map's states, whose input names the architecture, by the step of the build they are;
# then the states that clean up an architecture that failed.
BUILD_STEP_OF_STATE = {
    "LaunchBuilder": "builder", "LaunchBuilderFailed": "builder",
    "RegisterImage": "image", "RegisterImageFailed": "image",
    "LaunchQA": "qa", "QAFailed": "qa", "EvaluateQA": "qa", "EvaluateQAFailed": "qa",
}
ARCH_CLEANUP = ("CleanupArch", "ArchFailed")

# The Distribute map's states: each one's output is one region's RegionOutcome.
REGION_OUTCOME_STATES = ("CopyToRegion", "CopyFailed")

# The local runtime reports a run's progress as it enters and leaves these: the state each stage
# is named after, and FailRelease.
PROGRESS_STATES = ("Prepare", "Build", "Preflight", "Distribute", "Validate", "Announce", "Marketplace",
                   "Finalize", "FailRelease")
