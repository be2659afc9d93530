"""``atomic-release repo show URL [--ref REF]``: what the poller sees in a repository."""

import json

from chalicelib.ostree.repository import Commit, RefState, Repository, UnsupportedFormat


def _ref_json(state: RefState) -> dict:
    return {"ref": state.name, "checksum": state.checksum, "version": state.version,
            "timestamp": state.timestamp.isoformat() if state.timestamp else None}


def _commit_json(commit: Commit) -> dict:
    return {"checksum": commit.checksum, "version": commit.version, "parent": commit.parent,
            "subject": commit.subject, "body": commit.body,
            "timestamp": commit.timestamp.isoformat() if commit.timestamp else None,
            "bootable": commit.bootable, "metadata": commit.metadata}


def show(url: str, ref: str | None, output: str) -> int:
    repository = Repository(url)
    if ref:
        state = repository.refs([ref])[ref]
        document = {**_ref_json(state), "commit": _commit_json(repository.commit(state.checksum))}
        if output == "json":
            print(json.dumps(document, indent=2))
        else:
            commit = document["commit"]
            print(f"{ref}\n  checksum   {state.checksum}\n  version    {commit['version']}\n"
                  f"  timestamp  {commit['timestamp']}\n  parent     {commit['parent'] or '(none)'}\n"
                  f"  subject    {commit['subject']}\n  bootable   {'yes' if commit['bootable'] else 'no'}")
            for key, value in sorted(commit["metadata"].items()):
                print(f"  metadata   {key} = {json.dumps(value)}")
        return 0
    summary = repository.summary()
    if summary is None:
        raise UnsupportedFormat(f"{repository.url} publishes no summary, so its refs cannot be listed: "
                                "name one with --ref")
    assert summary.refs is not None, "a summary read without validators is never 'not modified'"
    refs = [_ref_json(state) for _, state in sorted(summary.refs.items())]
    if output == "json":
        print(json.dumps({"url": repository.url, "refs": refs}, indent=2))
    else:
        width = max((len(r["ref"]) for r in refs), default=3)
        print(f"{'REF':<{width}}  {'CHECKSUM':<64}  {'VERSION':<20}  TIMESTAMP")
        for r in refs:
            print(f"{r['ref']:<{width}}  {r['checksum']}  {r['version'] or '-':<20}  {r['timestamp'] or '-'}")
    return 0
