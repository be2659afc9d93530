"""The public image site: static pages beside the stream documents (``streams/index.html``,
``streams/<stream>/index.html``, one stylesheet), rendered from what is published and nothing
else, rewritten by Announce after it writes a stream's document."""

from chalicelib.site.publish import Published, publish_site, read_published, site_pages

__all__ = ["Published", "publish_site", "read_published", "site_pages"]
