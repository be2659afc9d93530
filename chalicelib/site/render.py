"""HTML of the public image site, from the published documents alone.

Every value from a document is escaped, and becomes a link only when it is an http(s) or a
relative URL: the documents are public input to these pages. The pages link each other, the
stylesheet and the documents by relative URLs, and load nothing from any other origin."""

import re
from collections.abc import Iterable
from html import escape
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chalicelib.models.artifacts import SIGNING_KEY_NAME
from chalicelib.models.documents import AtomicIndexRelease, CommitSignature
from chalicelib.models.stream_metadata import Artifact

if TYPE_CHECKING:
    from chalicelib.site.publish import Published

STYLESHEET = "site.css"
SITE_FOLDER = "/streams/"
# What a launch link may name: anything else is shown, never put in a console URL.
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
IMAGE_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def stylesheet() -> str:
    return resources.files(__package__).joinpath(STYLESHEET).read_text()


def launch_url(region: str, image_id: str) -> str | None:
    """The EC2 console's launch wizard on this AMI in this region."""
    if not (REGION.match(region) and IMAGE_ID.match(image_id)):
        return None
    return f"https://{region}.console.aws.amazon.com/ec2/home?region={region}#LaunchInstances:ami={image_id}"


def within_stream(location: str, stream: str) -> str | None:
    """The path of a published URL below ``streams/<stream>/`` (what a stream's page links
    relatively, and its key in the bucket below that prefix); None for anything else."""
    path = urlsplit(location).path
    marker = f"/streams/{stream}/"
    at = path.find(marker)
    if at < 0 or ".." in path:
        return None
    return path[at + len(marker):] or None


def link(href: str | None, text: str, **attributes: str) -> str:
    """A link where ``href`` is relative or http(s), the bare text otherwise."""
    safe = href is not None and not href.startswith("//") and urlsplit(href).scheme in ("", "http", "https")
    if not safe:
        return esc(text)
    extra = "".join(f' {name.replace("_", "-")}="{esc(value)}"' for name, value in attributes.items())
    return f'<a href="{esc(href)}"{extra}>{esc(text)}</a>'


def page(title: str, stylesheet_href: str, body: str, base: str | None = None) -> str:
    return ('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            + (f'<base href="{esc(base)}">\n' if base else "")
            + f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n"
            f'<link rel="stylesheet" href="{esc(stylesheet_href)}">\n</head>\n'
            f"<body>\n{body}\n</body>\n</html>\n")


Row = tuple[dict[str, str], list[str]]  # the row's attributes, its cells' HTML (the first heads the row)


def table(head: list[str], rows: Iterable[Row], test_id: str) -> str:
    """A table whose cells each name their column (``data-label``): on a phone each row becomes
    a card of labelled lines (site.css), so nothing scrolls sideways."""
    heading = "".join(f'<th scope="col">{esc(cell)}</th>' for cell in head)
    body = []
    for attributes, (first, *rest) in rows:
        extra = "".join(f' {name}="{esc(value)}"' for name, value in attributes.items())
        cells = "".join(f'<td data-label="{esc(label)}">{cell}</td>' for label, cell in zip(head[1:], rest, strict=True))
        body.append(f'<tr{extra}><th scope="row" data-label="{esc(head[0])}">{first}</th>{cells}</tr>')
    return (f'<div class="table"><table data-testid="{esc(test_id)}">'
            f"<thead><tr>{heading}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


# -- the index of streams -----------------------------------------------------------------------

def index_page(streams: list["Published"]) -> str:
    rows: list[Row] = [({"data-testid": "stream-row", "data-stream": p.name}, [
        link(f"{p.name}/index.html", p.name), esc(p.current_version or "none"), esc(p.stream.metadata.last_modified),
        link(f"{p.name}.json", f"{p.name}.json")]) for p in sorted(streams, key=lambda p: p.name)]
    listing = (table(["Stream", "Current version", "Updated", "Stream document"], rows, "streams")
               if rows else "<p>No stream has been released yet.</p>")
    body = (f"<header><h1>Cloud images</h1><p>Amazon EC2 images and downloadable disk images of every "
            f"stream, with their sums and signatures.</p></header>\n<main>{listing}</main>")
    # CloudFront serves this page at "/" too (its default root object): its links resolve against
    # /streams/ wherever it is served from.
    return page("Cloud images", STYLESHEET, body, base=SITE_FOLDER)


# -- a stream's page ----------------------------------------------------------------------------

def stream_page(p: "Published") -> str:
    version = p.current_version
    sections = [_current(p, version), _missing(p), _images(p, version), _downloads(p), _history(p)]
    body = (f'<header><nav>{link("../index.html", "All streams")}</nav>'
            f'<h1 data-testid="stream-name">{esc(p.name)}</h1>'
            f'<p>Stream document: {link(f"../{p.name}.json", f"{p.name}.json")} · '
            f'release index: {link("releases.json", "releases.json")}</p></header>\n'
            f"<main>{''.join(sections)}</main>")
    return page(f"{p.name} — cloud images", f"../{STYLESHEET}", body)


def _signer(signature: CommitSignature | None) -> str:
    if signature is None:
        return "not checked"
    if signature.verified and signature.signed_by:
        return f"signed by {signature.signed_by}"
    return f"not verified: {signature.reason or 'no reason given'}"


def _current(p: "Published", version: str | None) -> str:
    if version is None:
        return '<section><h2>Current release</h2><p data-testid="no-release">No release yet.</p></section>'
    arches = sorted(set(p.stream.architectures) | set(p.release.architectures if p.release else {}))
    rows: list[Row] = [({"data-testid": "commit-row", "data-arch": arch}, [
        esc(arch), f'<code class="long">{esc(p.commit(version, arch) or "unknown")}</code>',
        esc(p.commit_time(version) or "unknown"), esc(_signer(p.commit_signature(arch)))]) for arch in arches]
    status = (f'<p class="partial" data-testid="partial">Partial release: '
              f'{len(p.missing_regions)} region{"s" if len(p.missing_regions) != 1 else ""} missing.</p>'
              if p.missing_regions else "")
    return (f'<section aria-labelledby="current"><h2 id="current">Current release: '
            f'<span data-testid="current-version">{esc(version)}</span></h2>{status}'
            f'{table(["Architecture", "Commit", "Date", "Signer"], rows, "commits")}</section>')


def _missing(p: "Published") -> str:
    if not p.missing_regions:
        return ""
    items = "".join(f'<li data-testid="missing-region" data-region="{esc(region)}"><strong>{esc(region)}</strong>: '
                    f"{esc(why)}</li>" for region, why in sorted(p.missing_regions.items()))
    return (f'<section class="warning" aria-labelledby="missing" data-testid="missing-regions">'
            f'<h2 id="missing">Regions missing from {esc(p.current_version or "")}</h2>'
            f"<p>These regions do not have this release; each keeps the image it had, if any.</p>"
            f"<ul>{items}</ul></section>")


def _images(p: "Published", version: str | None) -> str:
    parts = []
    for arch, entry in sorted(p.stream.architectures.items()):
        regions = (entry.images.aws.regions or {}) if entry.images and entry.images.aws else {}
        if not regions:
            continue
        rows: list[Row] = []
        for region, image in sorted(regions.items()):
            older = ' <span class="older">(an older release)</span>' if image.release != version else ""
            rows.append(({"data-testid": "ami-row", "data-arch": arch, "data-region": region}, [
                esc(region), f'<code class="long">{esc(image.image)}</code>', f"{esc(image.release)}{older}",
                link(launch_url(region, image.image), "Launch", data_testid="launch")]))
        parts.append(f"<h3>{esc(arch)}</h3>{table(['Region', 'AMI', 'Release', 'Launch'], rows, 'amis')}")
    content = "".join(parts) or "<p>No Amazon EC2 image is published.</p>"
    return (f'<section aria-labelledby="ec2"><h2 id="ec2">Amazon EC2</h2>'
            f"<p>Launch opens the EC2 console's launch wizard on that image in that region.</p>{content}</section>")


def _size(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} bytes"
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:.1f} {unit} ({size} bytes)"


def _signing_key_url(location: str, stream: str) -> str:
    """The stream's signing key beside its downloads: ``.../streams/<stream>/artifact-signing-key.asc``."""
    marker = f"/streams/{stream}/"
    return location[:location.find(marker) + len(marker)] + SIGNING_KEY_NAME


def _download(p: "Published", arch: str, platform: str, fmt: str, disk: Artifact, signed_by: str | None) -> str:
    # Relative, not the document's URL: the page then works from wherever its folder is served (the
    # bucket behind CloudFront, or a --publish-dir on a port other than PUBLIC_BASE_URL's).
    relative = within_stream(disk.location, p.name)
    href = relative or disk.location
    name = urlsplit(disk.location).path.rsplit("/", 1)[-1] or disk.location
    size = _size(p.sizes.get(disk.location))
    facts = [f"<dt>Format</dt><dd>{esc(fmt)} ({esc(platform)})</dd>"]
    if size:
        facts.append(f'<dt>Size</dt><dd data-testid="size">{esc(size)}</dd>')
    facts.append(f'<dt>sha256</dt><dd><code class="long" data-testid="sha256">{esc(disk.sha256)}</code></dd>')
    if disk.uncompressed_sha256:
        facts.append(f'<dt>Uncompressed sha256</dt><dd><code class="long" data-testid="uncompressed-sha256">'
                     f"{esc(disk.uncompressed_sha256)}</code></dd>")
    if disk.signature:
        signature_href = within_stream(disk.signature, p.name) or disk.signature
        facts.append(f'<dt>Signature</dt><dd>{link(signature_href, "OpenPGP signature", data_testid="signature")}</dd>')
        fingerprint = f' <code class="long" data-testid="fingerprint">{esc(signed_by)}</code>' if signed_by else ""
        facts.append(f'<dt>Signing key</dt><dd>{link(SIGNING_KEY_NAME, SIGNING_KEY_NAME, data_testid="signing-key")}'
                     f"{fingerprint}</dd>")
    else:
        facts.append('<dt>Signature</dt><dd data-testid="unsigned">none: this stream publishes its images '
                     "unsigned; check the sha256.</dd>")
    steps = [f"curl -LO {disk.location}", f'echo "{disk.sha256}  {name}" | sha256sum -c']
    if disk.signature:
        steps += [f"curl -LO {_signing_key_url(disk.signature, p.name)}", f"gpg --import {SIGNING_KEY_NAME}",
                  *([f"gpg --fingerprint {signed_by}   # the key that signed it"] if signed_by else []),
                  f"curl -LO {disk.signature}", f"gpg --verify {name}.sig {name}"]
    if disk.uncompressed_sha256:
        steps.append(f"xz -dc {name} | sha256sum   # {disk.uncompressed_sha256}")
    if p.document_url:
        steps.append(f"# or download and verify in one step:\n"
                     f"atomic-release images download --stream-url {p.document_url} --arch {arch} --format {fmt}")
    return (f'<article class="download" data-testid="download" data-arch="{esc(arch)}" data-format="{esc(fmt)}">'
            f'<h4>{link(href, name, data_testid="download-link")}</h4><dl>{"".join(facts)}</dl>'
            f"<p>To verify:</p><pre>{esc(chr(10).join(steps))}</pre></article>")


def _downloads(p: "Published") -> str:
    parts = []
    for arch, entry in sorted(p.stream.architectures.items()):
        released = p.release.architectures.get(arch) if p.release else None
        signed_by = released.artifacts_signed_by if released else None
        files = [_download(p, arch, platform, fmt, image.disk,
                           signed_by if p.release and artifacts.release == p.release.release else None)
                 for platform, artifacts in sorted(entry.artifacts.items())
                 for fmt, image in sorted(artifacts.formats.items()) if image.disk]
        if files:
            parts.append(f"<h3>{esc(arch)}</h3>{''.join(files)}")
    content = "".join(parts) or '<p data-testid="no-downloads">No downloadable image is published.</p>'
    return f'<section aria-labelledby="downloads"><h2 id="downloads">Downloads</h2>{content}</section>'


def _release_link(p: "Published", release: AtomicIndexRelease) -> str:
    relative = within_stream(release.metadata, p.name)
    return link(relative or f"releases/{release.version}.json", "release document")


def _history(p: "Published") -> str:
    releases = list(reversed(p.index.releases)) if p.index else []
    if not releases:
        return '<section aria-labelledby="history"><h2 id="history">Release history</h2><p>None yet.</p></section>'
    rows: list[Row] = [({"data-testid": "history-row", "data-version": r.version}, [
        esc(r.version), esc(r.commit_time),
        "<br>".join(f'{esc(c.architecture)}: <code class="long">{esc(c.checksum)}</code>' for c in r.commits or []),
        _release_link(p, r)]) for r in releases]
    return (f'<section aria-labelledby="history"><h2 id="history">Release history</h2>'
            f"{table(['Version', 'Date', 'Commits', 'Document'], rows, 'history')}</section>")
