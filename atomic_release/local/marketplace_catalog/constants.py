"""The names and values of the Marketplace Catalog API as this emulation speaks it: operation,
field and error names follow botocore's model of the service (marketplace-catalog 2018-09-17)."""

SERVICE = "marketplace-catalog"
# The Catalog API has one endpoint, in us-east-1; a client of another Region finds no service.
REGION = "us-east-1"
SERVICE_URL = r"https?://catalog\.marketplace\.us-east-1\.amazonaws\.com"
CATALOG = "AWSMarketplace"
ENTITY_TYPE = "AmiProduct@1.0"
LISTED_ENTITY_TYPE = "AmiProduct"
# The other types ListEntities documents: valid to ask for, and none of them exists locally.
OTHER_ENTITY_TYPES = ("ContainerProduct", "DataProduct", "SaaSProduct", "ProcurementPolicy", "Experience", "Audience",
                      "BrandingSettings", "Offer", "OfferSet", "Seller", "ResaleAuthorization", "Solution",
                      "SubsidiaryAuthorization")
CHANGE_TYPE = "AddDeliveryOptions"
INTENTS = ("APPLY", "VALIDATE")

PREPARING, APPLYING, SUCCEEDED, FAILED, CANCELLED = "PREPARING", "APPLYING", "SUCCEEDED", "FAILED", "CANCELLED"
STATUSES = (PREPARING, APPLYING, SUCCEEDED, FAILED, CANCELLED)
IN_FLIGHT = (PREPARING, APPLYING)
VISIBILITIES = ("Limited", "Public", "Restricted", "Draft")  # AmiProductVisibilityString in the model
OPEN_VISIBILITIES = ("Public", "Limited")

# Documented by AWS ("Errors in the AMI products API" of the Catalog API reference), code and message.
INVALID_PRODUCT = ("INVALID_PRODUCT", "Use an existing limited or public product.")
DUPLICATE_VERSION_TITLE = ("DUPLICATE_VERSION_TITLE",
                           "The version title must be different from any other version titles of this product.")
# Modeled: AWS documents no code for these findings, so codes and messages are this module's own.
INVALID_AMI_ID = "INVALID_AMI_ID"
AMI_NOT_SHARED_WITH_ACCESS_ROLE = "AMI_NOT_SHARED_WITH_ACCESS_ROLE"
INVALID_ACCESS_ROLE_ARN = "INVALID_ACCESS_ROLE_ARN"
CLIENT_ERROR = "CLIENT_ERROR"
# Modeled as well: AWS's wording of FailureDescription is not documented.
FAILURE_DESCRIPTION = "The change set failed: the ErrorDetailList of its changes says why."
