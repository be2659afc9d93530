"""The Catalog API's request handling: each operation's parameters to the account's backend, and
its answer back."""

from moto.core.responses import ActionResult, BaseResponse

from atomic_release.local.marketplace_catalog.constants import REGION, SERVICE
from atomic_release.local.marketplace_catalog.exceptions import refuse_field
from atomic_release.local.marketplace_catalog.models import MarketplaceCatalogBackend, marketplace_catalog_backends
from atomic_release.local.marketplace_catalog.utils import present


class MarketplaceCatalogResponse(BaseResponse):
    """The REST-JSON side: moto routes by botocore's model, parses each request with it and
    serializes each answer and error with it."""

    def __init__(self) -> None:
        super().__init__(service_name=SERVICE)
        self.automated_parameter_parsing = True

    @property
    def catalog_backend(self) -> MarketplaceCatalogBackend:
        return marketplace_catalog_backends[self.current_account][REGION]

    def start_change_set(self) -> ActionResult:
        change_set = self.catalog_backend.start_change_set(
            self._get_param("Catalog"), self._get_param("ChangeSet") or [], name=self._get_param("ChangeSetName"),
            token=self._get_param("ClientRequestToken"), tags=self._get_param("ChangeSetTags"),
            intent=self._get_param("Intent"))
        return ActionResult({"ChangeSetId": change_set.change_set_id, "ChangeSetArn": change_set.arn})

    def describe_change_set(self) -> ActionResult:
        change_set = self.catalog_backend.describe_change_set(self._get_param("Catalog"),
                                                              self._get_param("ChangeSetId"))
        return ActionResult(change_set.description())

    def list_change_sets(self) -> ActionResult:
        summaries, token = self.catalog_backend.list_change_sets(
            self._get_param("Catalog"), self._get_param("FilterList"), self._get_param("Sort"),
            self._get_param("MaxResults"), self._get_param("NextToken"))
        return ActionResult(present({"ChangeSetSummaryList": summaries, "NextToken": token}))

    def cancel_change_set(self) -> ActionResult:
        change_set = self.catalog_backend.cancel_change_set(self._get_param("Catalog"), self._get_param("ChangeSetId"))
        return ActionResult({"ChangeSetId": change_set.change_set_id, "ChangeSetArn": change_set.arn})

    def describe_entity(self) -> ActionResult:
        return ActionResult(self.catalog_backend.describe_entity(self._get_param("Catalog"),
                                                                 self._get_param("EntityId")))

    def list_entities(self) -> ActionResult:
        if self._get_param("EntityTypeFilters") or self._get_param("EntityTypeSort"):
            refuse_field("EntityTypeFilters", "the local catalog does not implement EntityTypeFilters or "
                                              "EntityTypeSort: use FilterList and Sort")
        summaries, token = self.catalog_backend.list_entities(
            self._get_param("Catalog"), self._get_param("EntityType"), self._get_param("FilterList"),
            self._get_param("Sort"), self._get_param("MaxResults"), self._get_param("NextToken"),
            self._get_param("OwnershipType"))
        return ActionResult(present({"EntitySummaryList": summaries, "NextToken": token}))

