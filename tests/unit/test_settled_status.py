"""How a release that is out is recorded, without AWS."""

from chalicelib.stages.finalize import settled_status


def test_a_release_everywhere_and_on_marketplace_succeeded():
    assert settled_status({}, []) == "SUCCEEDED"


def test_a_release_missing_regions_is_partial():
    assert settled_status({"eu-west-1": "copy: failed"}, []) == "PARTIAL"


def test_a_missing_marketplace_version_wins_over_missing_regions():
    assert settled_status({}, ["x86_64"]) == "MARKETPLACE_FAILED"
    assert settled_status({"eu-west-1": "copy: failed"}, ["arm64"]) == "MARKETPLACE_FAILED"
