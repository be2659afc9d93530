"""The Marketplace Catalog service atomic_release.local.marketplace_catalog adds to moto, through
plain boto3 calls.

Where AWS documents a message, the test expects its words: ResourceInUseException on a locked
entity, DUPLICATE_VERSION_TITLE and INVALID_PRODUCT ("Errors in the AMI products API" of the
Catalog API reference). INVALID_AMI_ID, AMI_NOT_SHARED_WITH_ACCESS_ROLE and INVALID_ACCESS_ROLE_ARN
are the module's own codes for findings AWS does not document."""

import copy
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from functools import partial

import boto3
import moto.backend_index
import moto.backends
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from atomic_release.local import marketplace_catalog, patches
from atomic_release.local.marketplace_catalog import add_product, fail_next_change_set, hold, let_go, steer, versions

REGION = "us-east-1"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
CATALOG = "AWSMarketplace"
PRODUCT = "prod-atomic0001"
OTHER_PRODUCT = "prod-atomic0002"
TITLE = "43.20261125.3.0"
SOURCE = "DeliveryOptions.0.Details.AmiDeliveryOptionDetails.AmiSource"
OPTION = "DeliveryOptions.0.Details.AmiDeliveryOptionDetails"
OPTION_PATH = "ChangeSet[0].DetailsDocument.DeliveryOptions[0].Details.AmiDeliveryOptionDetails"
REMOVED = object()


def own_mock_aws(test):
    """Mark a test that opens its own ``mock_aws`` contexts: nested contexts would share one state."""
    test.own_mock_aws = True
    return test


@pytest.fixture(autouse=True)
def aws(request, monkeypatch):
    """moto as the local runtime sets it up: patches.install registers the catalog, and makes
    RegisterImage keep the Architecture that a version's source reports."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    patches.install()
    if getattr(request.function, "own_mock_aws", False):
        yield
        return
    with mock_aws():
        yield


def catalog():
    return boto3.client("marketplace-catalog", region_name=REGION)


def ec2():
    return boto3.client("ec2", region_name=REGION)


def register_image() -> str:
    return ec2().register_image(Name="atomic-marketplace", Architecture="arm64", VirtualizationType="hvm",
                                RootDeviceName="/dev/xvda")["ImageId"]


def create_role(name: str = "AwsMarketplaceAmiIngestion") -> str:
    iam = boto3.client("iam", region_name=REGION)
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def details(image_id: str, role_arn: str, title: str = TITLE) -> dict:
    """A valid DetailsDocument of AddDeliveryOptions: one version with one delivery option."""
    return {
        "Version": {"VersionTitle": title, "ReleaseNotes": f"Fedora Atomic {title}"},
        "DeliveryOptions": [{"Details": {"AmiDeliveryOptionDetails": {
            "AmiSource": {"AmiId": image_id, "AccessRoleArn": role_arn, "UserName": "core",
                          "OperatingSystemName": "FEDORA", "OperatingSystemVersion": "43", "ScanningPort": 22},
            "UsageInstructions": "Log in as core over SSH.",
            "RecommendedInstanceType": "t3.medium",
            "SecurityGroups": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": ["0.0.0.0/0"]}],
        }}}],
    }


def spoiled(document: dict, path: str, value=REMOVED) -> dict:
    """A copy of ``document`` with the field at the dotted ``path`` set to ``value``, or removed."""
    copied = copy.deepcopy(document)
    *parents, last = path.split(".")
    holder = copied
    for key in parents:
        holder = holder[int(key)] if isinstance(holder, list) else holder[key]
    if value is REMOVED:
        del holder[last]
    else:
        holder[last] = value
    return copied


@pytest.fixture
def image_id() -> str:
    return register_image()


@pytest.fixture
def role_arn() -> str:
    return create_role()


@pytest.fixture
def document(image_id, role_arn) -> dict:
    """A valid DetailsDocument for PRODUCT and OTHER_PRODUCT, both public products."""
    add_product(PRODUCT, "Fedora Atomic Host")
    add_product(OTHER_PRODUCT, "Fedora Atomic Host (arm64)")
    return details(image_id, role_arn)


def change(document: dict, product_id: str = PRODUCT) -> dict:
    return {"ChangeType": "AddDeliveryOptions", "Entity": {"Type": "AmiProduct@1.0", "Identifier": product_id},
            "DetailsDocument": document}


def start(document: dict, product_id: str = PRODUCT, **request) -> str:
    return catalog().start_change_set(Catalog=CATALOG, ChangeSet=[change(document, product_id)],
                                      **request)["ChangeSetId"]


def describe(change_set_id: str) -> dict:
    return catalog().describe_change_set(Catalog=CATALOG, ChangeSetId=change_set_id)


def settle(change_set_id: str) -> dict:
    """Describe until the change set ends: each DescribeChangeSet moves it one step."""
    for _ in range(3):
        described = describe(change_set_id)
        if described["Status"] not in ("PREPARING", "APPLYING"):
            return described
    raise AssertionError(f"{change_set_id} is still {described['Status']}")


def error_details(described: dict) -> list[dict]:
    return [detail for summary in described["ChangeSet"] for detail in summary["ErrorDetailList"]]


def listed(**request) -> list[dict]:
    return catalog().list_change_sets(Catalog=CATALOG, **request)["ChangeSetSummaryList"]


def listed_ids(*filters: tuple[str, list[str]]) -> set[str]:
    return {summary["ChangeSetId"] for summary in listed(
        FilterList=[{"Name": name, "ValueList": values} for name, values in filters])}


def status_listed(change_set_id: str) -> str:
    return next(summary["Status"] for summary in listed() if summary["ChangeSetId"] == change_set_id)


def failure_of(call) -> dict:
    """The error response of a call that must fail (Error, status and modeled members)."""
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response


def refusal_of(document: dict) -> str:
    """StartChangeSet's ValidationException message for this document."""
    response = failure_of(lambda: start(document))
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationException", 422)
    return response["Error"]["Message"]


# The way to SUCCEEDED


def test_a_change_set_starts_preparing_and_each_describe_moves_it_one_step(document):
    answer = catalog().start_change_set(Catalog=CATALOG, ChangeSet=[change(document)], ChangeSetName="atomic-43")
    change_set_id = answer["ChangeSetId"]

    assert re.fullmatch(r"[a-z0-9]{25}", change_set_id)
    assert answer["ChangeSetArn"] == f"arn:aws:aws-marketplace:{REGION}:{ACCOUNT}:AWSMarketplace/ChangeSet/{change_set_id}"
    assert status_listed(change_set_id) == "PREPARING"
    assert [describe(change_set_id)["Status"] for _ in range(3)] == ["APPLYING", "SUCCEEDED", "SUCCEEDED"]


def test_describe_change_set_answers_the_change_as_sent(document):
    change_set_id = start(document, ChangeSetName="atomic-43")

    applying, succeeded = describe(change_set_id), describe(change_set_id)

    assert {key: applying[key] for key in ("ChangeSetId", "ChangeSetName", "Intent", "Status")} == {
        "ChangeSetId": change_set_id, "ChangeSetName": "atomic-43", "Intent": "APPLY", "Status": "APPLYING"}
    assert applying["ChangeSet"] == [{**change(document), "ErrorDetailList": []}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", applying["StartTime"])
    assert "EndTime" not in applying
    assert succeeded["EndTime"] >= succeeded["StartTime"]
    assert not {"FailureCode", "FailureDescription"} & succeeded.keys()


def test_a_succeeded_change_set_adds_the_version_describe_entity_shows(document, image_id):
    described = settle(start(document))

    entity = catalog().describe_entity(Catalog=CATALOG, EntityId=PRODUCT)

    (version,) = entity["DetailsDocument"]["Versions"]
    (source,) = version["Sources"]
    (option,) = version["DeliveryOptions"]
    assert (version["VersionTitle"], version["ReleaseNotes"]) == (TITLE, f"Fedora Atomic {TITLE}")
    assert {key: source[key] for key in ("Type", "Image", "Architecture", "VirtualizationType")} == {
        "Type": "AmazonMachineImage", "Image": image_id, "Architecture": "arm64", "VirtualizationType": "hvm"}
    assert source["OperatingSystem"] == {"Name": "FEDORA", "Version": "43", "Username": "core", "ScanningPort": 22}
    assert option["SourceId"] == source["Id"]
    assert option["Recommendations"] == {"InstanceType": "t3.medium", "SecurityGroups": [
        {"Protocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIps": ["0.0.0.0/0"]}]}
    assert entity["LastModifiedDate"] == described["EndTime"]
    assert json.loads(entity["Details"]) == entity["DetailsDocument"]
    assert versions(PRODUCT) == [version]


def test_describe_entity_names_the_product(document):
    entity = catalog().describe_entity(Catalog=CATALOG, EntityId=PRODUCT)

    assert (entity["EntityType"], entity["EntityIdentifier"]) == ("AmiProduct@1.0", f"{PRODUCT}@1")
    assert entity["EntityArn"] == f"arn:aws:aws-marketplace:{REGION}:{ACCOUNT}:AWSMarketplace/AmiProduct/{PRODUCT}"
    assert entity["DetailsDocument"] == {
        "Description": {"ProductTitle": "Fedora Atomic Host", "Visibility": "Public"}, "Versions": []}


def test_details_sent_as_a_json_string_are_answered_as_sent(document):
    details_string = json.dumps(document)
    change_set_id = catalog().start_change_set(Catalog=CATALOG, ChangeSet=[{
        "ChangeType": "AddDeliveryOptions", "Entity": {"Type": "AmiProduct@1.0", "Identifier": PRODUCT},
        "Details": details_string}])["ChangeSetId"]

    described = settle(change_set_id)

    assert described["Status"] == "SUCCEEDED"
    assert described["ChangeSet"][0]["Details"] == details_string
    assert "DetailsDocument" not in described["ChangeSet"][0]
    assert [version["VersionTitle"] for version in versions(PRODUCT)] == [TITLE]


def test_a_validate_intent_succeeds_and_adds_no_version(document):
    described = settle(start(document, Intent="VALIDATE"))

    assert (described["Intent"], described["Status"]) == ("VALIDATE", "SUCCEEDED")
    assert versions(PRODUCT) == []
    assert catalog().describe_entity(Catalog=CATALOG, EntityId=PRODUCT)["DetailsDocument"]["Versions"] == []


# What Marketplace finds once APPLYING: a FAILED change set


def assert_failed_with(described: dict, code: str) -> None:
    assert (described["Status"], described["FailureCode"]) == ("FAILED", "CLIENT_ERROR")
    assert described["FailureDescription"] and described["EndTime"]
    assert [detail["ErrorCode"] for detail in error_details(described)] == [code]


def test_a_missing_ami_fails_with_invalid_ami_id_and_adds_no_version(document):
    described = settle(start(spoiled(document, f"{SOURCE}.AmiId", "ami-0123456789abcdef0")))

    assert_failed_with(described, "INVALID_AMI_ID")
    assert "ami-0123456789abcdef0" in error_details(described)[0]["ErrorMessage"]
    assert versions(PRODUCT) == []


def test_a_deregistered_ami_fails_with_invalid_ami_id(document, image_id):
    ec2().deregister_image(ImageId=image_id)

    assert_failed_with(settle(start(document)), "INVALID_AMI_ID")


def image_of_other_account(monkeypatch) -> str:
    """An AMI registered in OTHER_ACCOUNT's us-east-1, private to it."""
    with monkeypatch.context() as other:
        other.setenv("MOTO_ACCOUNT_ID", OTHER_ACCOUNT)
        return register_image()


def test_a_private_ami_of_another_account_fails_as_not_shared_with_the_access_role(document, monkeypatch):
    foreign = image_of_other_account(monkeypatch)

    described = settle(start(spoiled(document, f"{SOURCE}.AmiId", foreign)))

    assert_failed_with(described, "AMI_NOT_SHARED_WITH_ACCESS_ROLE")
    assert OTHER_ACCOUNT in error_details(described)[0]["ErrorMessage"]


def test_an_ami_of_another_account_shared_with_the_role_account_is_usable(document, monkeypatch):
    foreign = image_of_other_account(monkeypatch)
    with monkeypatch.context() as other:
        other.setenv("MOTO_ACCOUNT_ID", OTHER_ACCOUNT)
        ec2().modify_image_attribute(ImageId=foreign, LaunchPermission={"Add": [{"UserId": ACCOUNT}]})

    assert settle(start(spoiled(document, f"{SOURCE}.AmiId", foreign)))["Status"] == "SUCCEEDED"


def test_a_missing_access_role_fails_with_invalid_access_role_arn(document):
    missing_role = f"arn:aws:iam::{ACCOUNT}:role/NoSuchRole"

    described = settle(start(spoiled(document, f"{SOURCE}.AccessRoleArn", missing_role)))

    assert_failed_with(described, "INVALID_ACCESS_ROLE_ARN")
    assert missing_role in error_details(described)[0]["ErrorMessage"]


def test_a_version_title_the_product_has_fails_with_the_documented_message(document):
    settle(start(document))

    described = settle(start(document))

    assert_failed_with(described, "DUPLICATE_VERSION_TITLE")
    assert error_details(described)[0]["ErrorMessage"] == (
        "The version title must be different from any other version titles of this product.")
    assert len(versions(PRODUCT)) == 1


def test_a_product_neither_public_nor_limited_fails_with_invalid_product(document):
    add_product("prod-atomicdraft", "Not yet listed", visibility="Draft")

    described = settle(start(document, product_id="prod-atomicdraft"))

    assert_failed_with(described, "INVALID_PRODUCT")
    assert error_details(described)[0]["ErrorMessage"] == "Use an existing limited or public product."


# What StartChangeSet refuses


def test_a_missing_required_field_is_refused_naming_its_path(document):
    response = failure_of(lambda: start(spoiled(document, f"{SOURCE}.AccessRoleArn")))

    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationException", 422)
    assert response["Error"]["Message"] == f"{OPTION_PATH}.AmiSource.AccessRoleArn: required"
    assert response["ValidationExceptionFieldList"] == [{
        "Reason": "FieldValidationFailed", "EntityType": "AmiProduct@1.0", "EntityId": PRODUCT,
        "ChangeType": "AddDeliveryOptions", "Message": "required",
        "Field": "DetailsDocument.DeliveryOptions[0].Details.AmiDeliveryOptionDetails.AmiSource.AccessRoleArn"}]
    assert listed() == []


def test_every_problem_of_a_change_set_is_named(document):
    broken = spoiled(document, "Version.VersionTitle", " leading space")
    broken = spoiled(broken, f"{SOURCE}.AmiId", "ami-bad")
    broken = spoiled(broken, f"{OPTION}.SecurityGroups", [])
    broken = spoiled(broken, "Version.Colour", "blue")

    message = refusal_of(broken)

    assert set(message.split("; ")) == {
        "ChangeSet[0].DetailsDocument.Version.VersionTitle: must not be empty or start with whitespace",
        f"{OPTION_PATH}.AmiSource.AmiId: must match ^ami-([a-zA-Z0-9]{{8}}|[a-zA-Z0-9]{{17}})$",
        f"{OPTION_PATH}.SecurityGroups: needs at least 1 item(s)",
        "ChangeSet[0].DetailsDocument.Version.Colour: unknown field",
    }


@pytest.mark.parametrize(("path", "value", "field", "says"), [
    ("Version.VersionTitle", "x" * 65, "Version.VersionTitle", "takes at most 64 characters"),
    ("Version.ReleaseNotes", REMOVED, "Version.ReleaseNotes", "required"),
    ("DeliveryOptions", [], "DeliveryOptions", "needs at least 1 item(s)"),
    (f"{SOURCE}.UserName", "core user", "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.AmiSource.UserName",
     r"must match ^[\w\-_]+$"),
    (f"{SOURCE}.ScanningPort", 70000, "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.AmiSource.ScanningPort",
     "must be from 1 to 65535"),
    (f"{SOURCE}.AccessRoleArn", "arn:aws:iam::123:role/x",
     "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.AmiSource.AccessRoleArn",
     r"must match ^arn:aws:iam::\d{12}:role\/[a-zA-Z_0-9+=,.@\-_\/]+$"),
    (f"{OPTION}.RecommendedInstanceType", "t3 medium",
     "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.RecommendedInstanceType", r"must match ^\S{1,24}$"),
    (f"{OPTION}.UsageInstructions", "x" * 4001, "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.UsageInstructions",
     "takes at most 4000 characters"),
    (f"{OPTION}.SecurityGroups.0.IpProtocol", "icmp",
     "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.SecurityGroups[0].IpProtocol", "must be one of tcp, udp"),
    (f"{OPTION}.SecurityGroups.0.FromPort", "22",
     "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.SecurityGroups[0].FromPort", "must be an integer"),
    (f"{OPTION}.SecurityGroups.0.IpRanges", ["10.0.0.0/8"] * 6,
     "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.SecurityGroups[0].IpRanges", "takes at most 5 items"),
    (f"{OPTION}.SecurityGroups.0.IpRanges", ["everywhere"],
     "DeliveryOptions[0].Details.AmiDeliveryOptionDetails.SecurityGroups[0].IpRanges[0]",
     "must be a CIDR block such as 0.0.0.0/0"),
])
def test_each_published_constraint_of_the_details_document_is_enforced(document, path, value, field, says):
    assert refusal_of(spoiled(document, path, value)) == f"ChangeSet[0].DetailsDocument.{field}: {says}"


def test_delivery_options_of_one_version_must_share_one_ami_source(document):
    second = spoiled(document["DeliveryOptions"][0], "Details.AmiDeliveryOptionDetails.AmiSource.UserName", "fedora")
    document["DeliveryOptions"].append(second)

    message = refusal_of(document)

    assert message.startswith("ChangeSet[0].DetailsDocument.DeliveryOptions[1].Details.AmiDeliveryOptionDetails"
                              ".AmiSource: must equal DeliveryOptions[0]'s AmiSource")


def test_a_change_type_the_local_catalog_lacks_is_refused_as_not_implemented(document):
    update = {"ChangeType": "UpdateInformation", "Entity": {"Type": "AmiProduct@1.0", "Identifier": PRODUCT},
              "DetailsDocument": {"ProductTitle": "Renamed"}}

    response = failure_of(lambda: catalog().start_change_set(Catalog=CATALOG, ChangeSet=[update]))

    assert response["Error"]["Code"] == "ValidationException"
    assert "does not implement change type 'UpdateInformation'" in response["Error"]["Message"]
    assert response["ValidationExceptionFieldList"][0]["Reason"] == "UnknownOperation"


def test_details_and_details_document_together_are_refused(document):
    both = {**change(document), "Details": json.dumps(document)}

    response = failure_of(lambda: catalog().start_change_set(Catalog=CATALOG, ChangeSet=[both]))

    assert response["Error"]["Message"] == "ChangeSet[0].DetailsDocument: give Details or DetailsDocument, not both"


def test_the_same_change_type_twice_against_one_entity_is_refused(document):
    twice = [change(document), change(spoiled(document, "Version.VersionTitle", "other"))]

    response = failure_of(lambda: catalog().start_change_set(Catalog=CATALOG, ChangeSet=twice))

    assert response["Error"]["Code"] == "ValidationException"
    assert response["Error"]["Message"].startswith(f"ChangeSet[1].ChangeType: AddDeliveryOptions against entity "
                                                   f"'{PRODUCT}' is already ChangeSet[0]")


def test_a_catalog_other_than_aws_marketplace_is_refused(document):
    response = failure_of(lambda: catalog().start_change_set(Catalog="SomeCatalog", ChangeSet=[change(document)]))

    assert response["Error"]["Code"] == "ValidationException"
    assert response["Error"]["Message"].startswith("Catalog: 'SomeCatalog' is not a catalog")


def test_an_unknown_product_is_not_found(document):
    response = failure_of(lambda: start(document, product_id="prod-nosuchproduct"))

    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ResourceNotFoundException", 404)
    assert "prod-nosuchproduct" in response["Error"]["Message"]


def test_a_product_is_in_use_while_a_change_set_is_in_flight_and_free_once_it_ends(document):
    first = start(document)

    refused = failure_of(lambda: start(spoiled(document, "Version.VersionTitle", "next")))
    steer(first, "SUCCEEDED")
    second = start(spoiled(document, "Version.VersionTitle", "next"))

    assert (refused["Error"]["Code"], refused["ResponseMetadata"]["HTTPStatusCode"]) == ("ResourceInUseException", 423)
    assert refused["Error"]["Message"] == (f"Requested change set has entities locked by change sets - entity: "
                                           f"'{PRODUCT}', change sets: '{first}'.")
    assert settle(second)["Status"] == "SUCCEEDED"
    assert [version["VersionTitle"] for version in versions(PRODUCT)] == [TITLE, "next"]


def test_the_same_client_request_token_returns_the_same_change_set_and_creates_one(document):
    token = "atomic-43-x86_64-1"

    first = start(document, ClientRequestToken=token)
    again = start(document, ClientRequestToken=token)

    assert again == first
    assert [summary["ChangeSetId"] for summary in listed()] == [first]


def test_concurrent_starts_on_one_product_lock_it_for_exactly_one(document):
    clients = [catalog() for _ in range(8)]
    outcomes, gate = [], threading.Barrier(len(clients))

    def race(client):
        gate.wait()
        try:
            outcomes.append(client.start_change_set(Catalog=CATALOG, ChangeSet=[change(document)])["ChangeSetId"])
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    threads = [threading.Thread(target=race, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes).count("ResourceInUseException") == 7
    assert len(listed()) == 1


# Listing


def test_list_change_sets_filters_by_name_entity_and_status(document):
    done = start(document, ChangeSetName="release-a")
    steer(done, "SUCCEEDED")
    in_flight = start(spoiled(document, "Version.VersionTitle", "b"), ChangeSetName="release-b")
    other = start(document, product_id=OTHER_PRODUCT, ChangeSetName="release-a")

    assert listed_ids(("ChangeSetName", ["release-a"])) == {done, other}
    assert listed_ids(("EntityId", [PRODUCT])) == {done, in_flight}
    assert listed_ids(("Status", ["SUCCEEDED"])) == {done}
    assert listed_ids(("Status", ["PREPARING", "SUCCEEDED"])) == {done, in_flight, other}
    assert listed_ids(("ChangeSetName", ["release-a"]), ("EntityId", [PRODUCT])) == {done}
    assert listed_ids(("AfterEndTime", ["2000-01-01T00:00:00Z"])) == {done}


def test_list_change_sets_summarises_each_change_set(document):
    change_set_id = start(document, ChangeSetName="release-a")
    steer(change_set_id, "FAILED", [("SCAN_FAILED", "The AMI failed the security scan.")])

    (summary,) = listed()

    assert summary == {"ChangeSetId": change_set_id, "ChangeSetArn": describe(change_set_id)["ChangeSetArn"],
                       "ChangeSetName": "release-a", "StartTime": summary["StartTime"],
                       "EndTime": summary["EndTime"], "Status": "FAILED", "EntityIdList": [PRODUCT],
                       "FailureCode": "CLIENT_ERROR"}


def test_list_change_sets_pages_newest_first_and_sorts_on_request(document):
    started = []
    for number in range(5):
        started.append(start(spoiled(document, "Version.VersionTitle", f"v{number}")))
        steer(started[-1], "CANCELLED")

    pages, token = [], None
    while True:
        answer = catalog().list_change_sets(Catalog=CATALOG, MaxResults=2, **({"NextToken": token} if token else {}))
        pages.append([summary["ChangeSetId"] for summary in answer["ChangeSetSummaryList"]])
        if not (token := answer.get("NextToken")):
            break
    ascending = listed(Sort={"SortBy": "StartTime", "SortOrder": "ASCENDING"})

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [change_set_id for page in pages for change_set_id in page] == started[::-1]
    assert [summary["ChangeSetId"] for summary in ascending] == started


def test_list_change_sets_refuses_what_it_cannot_answer(document):
    assert failure_of(lambda: listed(MaxResults=21))["Error"]["Code"] == "ValidationException"
    assert failure_of(lambda: listed(NextToken="not-a-token"))["Error"]["Code"] == "ValidationException"
    assert failure_of(lambda: listed(FilterList=[{"Name": "Colour", "ValueList": ["blue"]}]))["Error"]["Code"] == (
        "ValidationException")


def test_listing_does_not_move_a_change_set_on(document):
    change_set_id = start(document)

    for _ in range(3):
        listed()

    assert status_listed(change_set_id) == "PREPARING"
    assert describe(change_set_id)["Status"] == "APPLYING"


def test_list_entities_lists_the_accounts_ami_products(document):
    everything = catalog().list_entities(Catalog=CATALOG, EntityType="AmiProduct")["EntitySummaryList"]
    one = catalog().list_entities(Catalog=CATALOG, EntityType="AmiProduct", MaxResults=1,
                                  FilterList=[{"Name": "EntityId", "ValueList": [OTHER_PRODUCT]}])

    assert {summary["EntityId"] for summary in everything} == {PRODUCT, OTHER_PRODUCT}
    (summary,) = one["EntitySummaryList"]
    assert {key: summary[key] for key in ("Name", "EntityType", "Visibility", "AmiProductSummary")} == {
        "Name": "Fedora Atomic Host (arm64)", "EntityType": "AmiProduct", "Visibility": "Public",
        "AmiProductSummary": {"ProductTitle": "Fedora Atomic Host (arm64)", "Visibility": "Public"}}
    assert "NextToken" not in one


# Cancelling


def test_a_preparing_change_set_is_cancelled_and_frees_its_product(document):
    change_set_id = start(document)

    answer = catalog().cancel_change_set(Catalog=CATALOG, ChangeSetId=change_set_id)
    described = describe(change_set_id)

    assert answer["ChangeSetId"] == change_set_id
    assert (described["Status"], bool(described.get("EndTime"))) == ("CANCELLED", True)
    assert settle(start(document))["Status"] == "SUCCEEDED"


def test_an_applying_change_set_cannot_be_cancelled(document):
    change_set_id = start(document)
    describe(change_set_id)

    response = failure_of(lambda: catalog().cancel_change_set(Catalog=CATALOG, ChangeSetId=change_set_id))

    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ResourceInUseException", 423)
    assert "APPLYING" in response["Error"]["Message"]
    assert describe(change_set_id)["Status"] == "SUCCEEDED"


def test_an_unknown_change_set_is_not_found(document):
    for call in (catalog().describe_change_set, catalog().cancel_change_set):
        response = failure_of(partial(call, Catalog=CATALOG, ChangeSetId="nosuchchangeset"))
        assert response["Error"]["Code"] == "ResourceNotFoundException"


# The helpers tests and the local runtime steer with


def test_fail_next_change_set_fails_only_the_next_change_set(document):
    fail_next_change_set(PRODUCT, "SCAN_FAILED", "The AMI failed the security scan.")

    failed = settle(start(document))
    succeeded = settle(start(document))

    assert_failed_with(failed, "SCAN_FAILED")
    assert error_details(failed)[0]["ErrorMessage"] == "The AMI failed the security scan."
    assert succeeded["Status"] == "SUCCEEDED"


def test_hold_keeps_a_change_set_in_flight_until_let_go(document):
    hold(PRODUCT)
    change_set_id = start(document)

    held = [describe(change_set_id)["Status"] for _ in range(3)]
    let_go(PRODUCT)

    assert held == ["PREPARING"] * 3
    assert settle(change_set_id)["Status"] == "SUCCEEDED"


def test_a_gate_says_when_a_change_set_moves_on_and_its_clock_when_it_starts(document):
    """A virtual clock's: a change set starts at its time and ends when its time came, however
    much later it is described."""
    sent = datetime(2026, 11, 1, 0, 53, tzinfo=UTC)
    came: list[datetime] = []
    marketplace_catalog.gate(lambda change_set: came[0] if came else None, lambda: sent)
    change_set_id = start(document)
    held = [describe(change_set_id)["Status"] for _ in range(2)]
    came.append(sent + timedelta(minutes=40))

    assert held == ["PREPARING"] * 2
    assert settle(change_set_id)["Status"] == "SUCCEEDED"
    assert (describe(change_set_id)["StartTime"], describe(change_set_id)["EndTime"]) == (
        "2026-11-01T00:53:00Z", "2026-11-01T01:33:00Z")


def test_steer_to_failed_reports_the_given_errors_and_unlocks(document):
    change_set_id = start(document)

    steer(change_set_id, "FAILED", [("SCAN_FAILED", "Scan failed."), ("OTHER", "And more.")])

    described = describe(change_set_id)
    assert [(detail["ErrorCode"], detail["ErrorMessage"]) for detail in error_details(described)] == [
        ("SCAN_FAILED", "Scan failed."), ("OTHER", "And more.")]
    assert described["Status"] == "FAILED"
    assert versions(PRODUCT) == []
    start(document)


def test_steer_leaves_an_ended_change_set_alone(document):
    change_set_id = start(document)
    steer(change_set_id, "CANCELLED")

    with pytest.raises(ValueError, match="has ended"):
        steer(change_set_id, "SUCCEEDED")


# Lifetime and installation


@own_mock_aws
def test_nothing_leaks_from_one_mock_aws_context_into_the_next():
    with mock_aws():
        add_product(PRODUCT, "Fedora Atomic Host")
        change_set_id = start(details(register_image(), create_role()))
        assert describe(change_set_id)["Status"] == "APPLYING"

    with mock_aws():
        assert listed() == []
        assert catalog().list_entities(Catalog=CATALOG, EntityType="AmiProduct")["EntitySummaryList"] == []
        assert failure_of(lambda: describe(change_set_id))["Error"]["Code"] == "ResourceNotFoundException"


def test_install_twice_registers_once():
    get_backend = moto.backends.get_backend

    marketplace_catalog.install()

    assert moto.backends.get_backend is get_backend
    assert [service for service, _ in moto.backend_index.backend_url_patterns].count("marketplace-catalog") == 1
