"""Every run of a release links to its execution in the Step Functions console of the region its
ARN names, where the graph shows each state's input and output, and a failed state's error and cause."""

import pytest

from chalicelib.api.release_view import RunView

ARN = "arn:aws:states:{region}:123456789012:execution:atomic-release-ReleaseStateMachine:developer-43_1-0123456789ab"


@pytest.mark.parametrize("region", ["eu-central-1", "ap-southeast-2", "us-east-1"])
def test_a_runs_console_link_is_in_the_region_of_its_execution(region):
    arn = ARN.format(region=region)

    run = RunView(name="developer-43_1-0123456789ab", kind="release", execution_arn=arn, status="FAILED")

    assert run.console_url == (f"https://{region}.console.aws.amazon.com/states/home?region={region}"
                               f"#/v2/executions/details/{arn}")
    assert run.model_dump(mode="json")["console_url"] == run.console_url
