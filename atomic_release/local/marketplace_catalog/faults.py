"""A fault of the Marketplace stage, for tests and the CLI: Marketplace rejects the next change
set of an architecture's product, as it reports an image that fails its security scan."""

from dataclasses import dataclass

from atomic_release.local.marketplace_catalog.controls import fail_next_change_set
from atomic_release.local.simulator import kind_and_arch
from chalicelib.core.config import StreamsConfig

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
        return cls(*kind_and_arch(text, MARKETPLACE_FAULT_KINDS, "Marketplace fault"))

    def set_up(self, streams: StreamsConfig) -> None:
        products = {product.product_id for stream in streams.streams.values()
                    for arch, product in stream.marketplace.products.items() if self.arch in (None, arch)}
        for product_id in sorted(products):
            fail_next_change_set(product_id, *REJECTION)
