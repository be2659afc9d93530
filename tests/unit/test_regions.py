"""The regions a stream may name come from botocore's endpoint data, standard partition only."""

import json
import re
from pathlib import Path

import botocore
import pytest

from chalicelib.core import regions
from chalicelib.core.regions import aws_regions, first_regions, is_supported, refuse_unsupported

BOTOCORE_ENDPOINTS = Path(botocore.__file__).parent / "data" / "endpoints.json"


@pytest.fixture
def fresh_endpoint_data():
    regions._ec2_regions.cache_clear()
    yield
    regions._ec2_regions.cache_clear()


@pytest.mark.parametrize("region", ["ap-east-2", "ap-southeast-6", "us-east-1", "mx-central-1"])
def test_regions_botocore_knows_are_accepted(region):
    assert is_supported(region)
    refuse_unsupported(["us-east-1", region])


def test_a_made_up_region_is_refused_naming_it():
    assert not is_supported("moon-east-1")
    with pytest.raises(ValueError, match="'moon-east-1' is not an AWS region with EC2"):
        refuse_unsupported(["us-east-1", "moon-east-1"])


@pytest.mark.parametrize(("region", "partition"), [
    ("us-gov-west-1", "AWS GovCloud (US) partition (aws-us-gov)"),
    ("cn-northwest-1", "AWS China partition (aws-cn)"),
    ("us-iso-east-1", "aws-iso partition"),
])
def test_other_partitions_regions_are_refused_naming_the_partition(region, partition):
    with pytest.raises(ValueError, match=rf"'{region}' is a region of the {re.escape(partition)}"):
        refuse_unsupported([region])


def test_a_region_new_in_botocores_data_is_accepted_without_a_code_change(tmp_path, monkeypatch,
                                                                           fresh_endpoint_data):
    data = json.loads(BOTOCORE_ENDPOINTS.read_text())
    standard = next(p for p in data["partitions"] if p["partition"] == "aws")
    standard["regions"]["ap-future-1"] = {"description": "Asia Pacific (Future)"}
    standard["services"]["ec2"]["endpoints"]["ap-future-1"] = {}
    (tmp_path / "endpoints.json").write_text(json.dumps(data))
    assert not is_supported("ap-future-1")
    regions._ec2_regions.cache_clear()

    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))

    assert is_supported("ap-future-1")
    assert set(aws_regions()) - {"ap-future-1"} == set(standard["regions"]) - {"ap-future-1"}


def test_first_regions_take_the_base_regions_area_first_then_botocores_order():
    assert first_regions("us-east-1", 3) == ["us-east-1", "us-east-2", "us-west-1"]
    assert first_regions("us-east-1", 6) == ["us-east-1", "us-east-2", "us-west-1", "us-west-2",
                                             "af-south-1", "ap-east-1"]
    assert first_regions("eu-west-1", 3) == ["eu-west-1", "eu-central-1", "eu-central-2"]


def test_first_regions_reach_every_region_and_no_further():
    every = first_regions("ap-southeast-6", len(aws_regions()))
    assert sorted(every) == sorted(aws_regions())
    with pytest.raises(ValueError, match="at least 1"):
        first_regions("us-east-1", 0)
    with pytest.raises(ValueError, match=f"at most {len(aws_regions())}"):
        first_regions("us-east-1", len(aws_regions()) + 1)
