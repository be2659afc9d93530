"""``atomic-release repo show URL [--ref REF] [--trusted-key FILE ...]``: what the poller sees in a
repository, each commit's signatures judged against the keys given (none: nothing is verified,
and the signers are still named)."""

import json
from pathlib import Path

from chalicelib.core.trusted_keys import Trust, read_key
from chalicelib.models.signature import SignatureCheck
from chalicelib.ostree.repository import Commit, RefState, Repository, UnsupportedFormat


class UnusableKey(ValueError):
    """A --trusted-key file that is missing or holds no key that may sign."""


def read_trust(paths: list[str]) -> Trust:
    """The keys in the files given; UnusableKey names the file that does not hold one."""
    keys = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise UnusableKey(f"--trusted-key {path}: {error.strerror or error}") from None
        try:
            keys.append(read_key(data))
        except ValueError as error:
            raise UnusableKey(f"--trusted-key {path}: {error}") from None
    return Trust(tuple(keys))


def _signature_json(check: SignatureCheck | None) -> dict | None:
    return None if check is None else check.model_dump(mode="json")


def _ref_json(state: RefState, signature: SignatureCheck) -> dict:
    return {"ref": state.name, "checksum": state.checksum, "version": state.version,
            "timestamp": state.timestamp.isoformat() if state.timestamp else None,
            "signature": _signature_json(signature)}


def _commit_json(commit: Commit, signature: SignatureCheck) -> dict:
    return {"checksum": commit.checksum, "version": commit.version, "parent": commit.parent,
            "subject": commit.subject, "body": commit.body,
            "timestamp": commit.timestamp.isoformat() if commit.timestamp else None,
            "bootable": commit.bootable, "metadata": commit.metadata, "signature": _signature_json(signature)}


def show(url: str, ref: str | None, output: str, trusted_keys: list[str] | None = None) -> int:
    repository = Repository(url, trust=read_trust(trusted_keys or []))
    summary = repository.summary()
    if ref:
        _show_ref(repository, repository.refs_in(summary, [ref])[ref], output, summary.signature if summary else None)
        return 0
    if summary is None:
        raise UnsupportedFormat(f"{repository.url} publishes no summary, so its refs cannot be listed: "
                                "name one with --ref")
    assert summary.refs is not None, "a summary read without validators is never 'not modified'"
    heads = [(state, repository.signature(state.checksum)) for _, state in sorted(summary.refs.items())]
    if output == "json":
        print(json.dumps({"url": repository.url, "summary_signature": _signature_json(summary.signature),
                          "refs": [_ref_json(state, signature) for state, signature in heads]}, indent=2))
        return 0
    if summary.signature is not None:
        print(f"summary.sig: {summary.signature.summary}\n")
    width = max((len(state.name) for state, _ in heads), default=3)
    print(f"{'REF':<{width}}  {'CHECKSUM':<64}  {'VERSION':<20}  {'TIMESTAMP':<25}  SIGNATURE")
    for state, signature in heads:
        stamp = state.timestamp.isoformat() if state.timestamp else "-"
        print(f"{state.name:<{width}}  {state.checksum}  {state.version or '-':<20}  {stamp:<25}  {signature.summary}")
    return 0


def _show_ref(repository: Repository, state: RefState, output: str, summary_signature: SignatureCheck | None) -> None:
    commit = repository.commit(state.checksum)
    signature = repository.signature(state.checksum)
    if output == "json":
        print(json.dumps({**_ref_json(state, signature), "commit": _commit_json(commit, signature),
                          "summary_signature": _signature_json(summary_signature)}, indent=2))
        return
    stamp = commit.timestamp.isoformat() if commit.timestamp else None
    print(f"{state.name}\n  checksum   {state.checksum}\n  version    {commit.version}\n"
          f"  timestamp  {stamp}\n  parent     {commit.parent or '(none)'}\n"
          f"  subject    {commit.subject}\n  bootable   {'yes' if commit.bootable else 'no'}\n"
          f"  signature  {signature.summary}\n  signers    {', '.join(signature.signers) or '(none)'}")
    if summary_signature is not None:
        print(f"  summary    {summary_signature.summary}")
    for key, value in sorted(commit.metadata.items()):
        print(f"  metadata   {key} = {json.dumps(value)}")
