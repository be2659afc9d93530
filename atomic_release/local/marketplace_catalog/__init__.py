"""The AWS Marketplace Catalog API as far as a release uses it: ``AddDeliveryOptions`` change sets
that add a version to an AMI product. moto 5.2.5 has no ``marketplace-catalog`` service; this
package is one, laid out as moto lays out its own, which ``install()`` registers with moto so that
plain boto3 calls reach it.

What AWS refuses when StartChangeSet is called (a malformed request, an unknown product, a product
locked by a change set in flight) fails that call here too. What Marketplace finds later (the
AMI, its sharing, the access role, the version title, the product's visibility) shows as a FAILED
change set in DescribeChangeSet. Each DescribeChangeSet moves a change set one step, PREPARING ->
APPLYING -> SUCCEEDED or FAILED, unless its product is held (``hold``); ListChangeSets only looks.

State lives on this service's moto backend objects, one per account. moto's reset, which every
new ``mock_aws`` runs, drops them as it drops every other service's, so nothing outlives a context.
Operation, field and error names follow botocore's model of the service (marketplace-catalog
2018-09-17) and AWS's published DetailsDocument shapes for AmiProduct@1.0.

Modules: constants, exceptions, shapes (the DetailsDocument's), entities (products, change sets),
validation (what StartChangeSet refuses), checks (what APPLYING finds), listing, models (the
backend and a change set's life), responses, urls, registration (``install``), controls (what
tests and the runtime arrange) and faults (the Marketplace faults of a local release)."""

from atomic_release.local.marketplace_catalog.controls import (
    add_product,
    fail_next_change_set,
    gate,
    hold,
    in_flight,
    let_go,
    steer,
    versions,
)
from atomic_release.local.marketplace_catalog.models import marketplace_catalog_backends
from atomic_release.local.marketplace_catalog.registration import install

__all__ = ["install", "add_product", "fail_next_change_set", "gate", "hold", "in_flight", "let_go", "steer", "versions",
           "marketplace_catalog_backends"]
