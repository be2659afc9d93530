"""`atomic-release repo show`: what the poller sees, for a release engineer."""

import json

from atomic_release.cli.main import main

X86 = "fedora/x86_64/coreos/stable"
ARM = "fedora/aarch64/coreos/stable"


def test_lists_every_ref_with_checksum_version_and_timestamp(ostree_repo, served, capsys):
    x86 = ostree_repo.commit(X86, "41.1")
    arm = ostree_repo.commit(ARM, "41.2")
    ostree_repo.update_summary()

    assert main(["repo", "show", served.url, "--output", "json"]) == 0

    refs = {r["ref"]: r for r in json.loads(capsys.readouterr().out)["refs"]}
    assert (refs[X86]["checksum"], refs[X86]["version"]) == (x86, "41.1")
    assert (refs[ARM]["checksum"], refs[ARM]["version"]) == (arm, "41.2")
    assert refs[X86]["timestamp"].endswith("+00:00")


def test_one_ref_shows_its_commit(ostree_repo, served, capsys):
    first = ostree_repo.commit(X86, "41.1")
    second = ostree_repo.commit(X86, "41.2", subject="Second build")
    ostree_repo.update_summary()

    assert main(["repo", "show", served.url, "--ref", X86]) == 0

    out = capsys.readouterr().out
    assert f"checksum   {second}" in out
    assert f"parent     {first}" in out
    assert "subject    Second build" in out
    assert 'metadata   version = "41.2"' in out


def test_a_missing_ref_and_a_missing_summary_are_clear_errors(ostree_repo, served, capsys):
    ostree_repo.commit(X86, "41.1")

    assert main(["repo", "show", served.url]) == 2
    assert "publishes no summary" in capsys.readouterr().err
    assert main(["repo", "show", served.url, "--ref", ARM]) == 2
    assert f"refs/heads/{ARM}: no ref '{ARM}'" in capsys.readouterr().err
