"""What a release's record keeps of an abort and of the cleanup after a run that ended without
its Catch paths (aborted or timed out): the API answers an abort at once, and the rule on the
execution's end cleans up after it, so both are read back from the record."""

from pydantic import Field

from chalicelib.models.base import Model

ABORT_REASON_MAX = 500


class AbortRequest(Model):
    execution_arn: str = Field(description="the run that was stopped")
    reason: str = Field(max_length=ABORT_REASON_MAX)
    stage: str = Field(description="the stage the run was in when it was stopped; unknown when its history did "
                                   "not say")
    requested_at: str


class Cleanup(Model):
    execution_arn: str = Field(description="the run whose end this cleaned up after")
    status: str = Field(description="how that run ended: ABORTED or TIMED_OUT")
    cleaned: bool
    removed: dict[str, list[str]] = Field(default_factory=dict, description="kind -> region:id (files: keys) of "
                                                                             "what was removed")
    reason: str = Field(default="", description="why nothing was cleaned, when nothing was")
    at: str
