"""A fault of the Marketplace stage, for tests and the CLI: Marketplace rejects the next change
set of an architecture's product, as it reports an image that fails its security scan."""

from dataclasses import dataclass

from atomic_release.local import marketplace_catalog
from chalicelib.arch import ARCHES
from chalicelib.config import StreamsConfig

MARKETPLACE_FAULT_KINDS: tuple[str, ...] = ("marketplace-rejects",)
# Modeled: AWS does not publish the error Marketplace gives for a failed scan.
REJECTION = ("AMI_SCAN_FAILED", "The AMI failed the AWS Marketplace security scan: a package has a known "
                                "critical vulnerability.")


@dataclass(frozen=True)
class MarketplaceFault:
    kind: str
    arch: str | None = None  # None: every architecture

    @classmethod
    def parse(cls, text: str) -> "MarketplaceFault":
        kind, _, arch = text.partition(":")
        if kind not in MARKETPLACE_FAULT_KINDS:
            raise ValueError(f"unknown Marketplace fault {kind!r}; one of {', '.join(MARKETPLACE_FAULT_KINDS)}")
        if arch and arch not in ARCHES:
            raise ValueError(f"fault {text!r}: architecture must be one of {', '.join(ARCHES)}")
        return cls(kind, arch or None)

    def set_up(self, streams: StreamsConfig) -> None:
        products = {product.product_id for stream in streams.streams.values()
                    for arch, product in stream.marketplace.products.items() if self.arch in (None, arch)}
        for product_id in sorted(products):
            marketplace_catalog.fail_next_change_set(product_id, *REJECTION)
