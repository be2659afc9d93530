"""What the catalog holds: AmiProduct entities, and change sets with their changes, each able to
describe itself as the API answers."""

import copy
import json
from dataclasses import dataclass, field

from atomic_release.local.marketplace_catalog.constants import ENTITY_TYPE, IN_FLIGHT, LISTED_ENTITY_TYPE, PREPARING
from atomic_release.local.marketplace_catalog.utils import present


@dataclass
class Product:
    """An AmiProduct entity: what a seller already has, and the versions change sets added."""

    product_id: str
    title: str
    visibility: str
    arn: str
    last_modified: str
    sequence: int
    versions: list[dict] = field(default_factory=list)

    def details_document(self) -> dict:
        return {"Description": {"ProductTitle": self.title, "Visibility": self.visibility},
                "Versions": copy.deepcopy(self.versions)}

    def description(self) -> dict:
        document = self.details_document()
        return {"EntityType": ENTITY_TYPE, "EntityIdentifier": f"{self.product_id}@1", "EntityArn": self.arn,
                "LastModifiedDate": self.last_modified, "Details": json.dumps(document), "DetailsDocument": document}

    def summary(self) -> dict:
        return {"Name": self.title, "EntityType": LISTED_ENTITY_TYPE, "EntityId": self.product_id,
                "EntityArn": self.arn, "LastModifiedDate": self.last_modified, "Visibility": self.visibility,
                "AmiProductSummary": {"ProductTitle": self.title, "Visibility": self.visibility}}


@dataclass
class Change:
    """One change of a change set, as sent, and what became of it."""

    change_type: str | None  # None: the change named none, which validation refuses
    entity: dict
    product_id: str
    details: dict
    sent: dict
    name: str | None = None
    findings: list[dict] = field(default_factory=list)
    scripted: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    image: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return present({"ChangeType": self.change_type, "Entity": dict(self.entity), **copy.deepcopy(self.sent),
                        "ErrorDetailList": list(self.errors), "ChangeName": self.name})


@dataclass
class ChangeSet:
    change_set_id: str
    arn: str
    name: str
    intent: str
    start_time: str
    changes: list[Change]
    sequence: int
    tags: list[dict]
    status: str = PREPARING
    end_time: str | None = None
    failure_code: str | None = None
    failure_description: str | None = None

    @property
    def entity_ids(self) -> list[str]:
        return list(dict.fromkeys(change.product_id for change in self.changes))

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    def description(self) -> dict:
        return present({
            "ChangeSetId": self.change_set_id, "ChangeSetArn": self.arn, "ChangeSetName": self.name,
            "Intent": self.intent, "StartTime": self.start_time, "EndTime": self.end_time, "Status": self.status,
            "FailureCode": self.failure_code, "FailureDescription": self.failure_description,
            "ChangeSet": [change.summary() for change in self.changes],
        })

    def summary(self) -> dict:
        return present({
            "ChangeSetId": self.change_set_id, "ChangeSetArn": self.arn, "ChangeSetName": self.name,
            "StartTime": self.start_time, "EndTime": self.end_time, "Status": self.status,
            "EntityIdList": self.entity_ids, "FailureCode": self.failure_code,
        })

