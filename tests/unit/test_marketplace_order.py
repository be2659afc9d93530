"""A product's versions ordered as the stream orders its releases: by the commit times of its
release index, never by the version strings."""

from chalicelib.models.marketplace import MarketplaceProgress, ProductChange, without_version
from chalicelib.stages.marketplace import newer_versions

TIMES = {"43.9": "2026-11-20T10:00:00Z", "43.10": "2026-11-25T10:00:00Z", "44.1": "2026-11-25T10:00:00Z"}


def test_a_version_with_a_newer_commit_is_newer_whatever_its_title_sorts_as():
    assert newer_versions(["43.10"], TIMES, "43.9") == ["43.10"]
    assert newer_versions(["43.9"], TIMES, "43.10") == []


def test_versions_the_index_does_not_list_and_commits_of_the_same_time_are_not_newer():
    assert newer_versions(["hotfix", "44.1", "43.9"], TIMES, "43.10") == []


def test_a_release_the_index_does_not_list_is_compared_with_nothing():
    assert newer_versions(["43.10"], TIMES, "45.0") == []


def refused(arch: str) -> ProductChange:
    return ProductChange(arch=arch, product_id="prod-1", image_id="ami-1", intent="APPLY", change_set_name="n",
                         status="REFUSED", reason="not sent: the product has a newer release's version (43.10)")


def test_a_refused_version_is_settled_and_neither_missing_nor_to_be_sent_again():
    progress = MarketplaceProgress(arches=["x86_64"], pending=False, products=[refused("x86_64")])

    assert progress.products[0].settled and not progress.products[0].names_its_image
    assert progress.unsuccessful == []
    assert without_version(["x86_64", "arm64"], {"x86_64": refused("x86_64")}) == ["arm64"]
