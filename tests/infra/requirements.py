"""What IAM authorizes for each recorded AWS call: its action(s), the ARN of each resource it acts
on (or "*" for an action that takes none), and the condition keys the request sets.

The resource types follow AWS's Service Authorization Reference as the policies read it (EC2's
RunInstances authorizes its instance, volumes, network interface, subnet, security group and
image; a resource a call creates is authorized with the request's tags; tags on create are a
CreateTags authorization with ``ec2:CreateAction``). A call this module does not know raises:
a new kind of call must be modelled before it is judged."""

from dataclasses import dataclass

from chalicelib.core.tags import as_dict
from chalicelib.stages.marketplace import ENTITY_TYPE as MARKETPLACE_ENTITY_TYPE
from tests.infra.calls import EC2_ON_EXISTING, Call
from tests.infra.iam import Requirement
from tests.infra.policies import as_list

PARTITION = "aws"
# The partition key of each table (infra/release.yaml): ReleasesTable's and StateTable's.
PARTITION_KEYS = ("release_id", "pk")
# Works whatever the caller's policy says.
NO_PERMISSION_NEEDED = {("sts", "GetCallerIdentity")}
_PREFIXES = {"stepfunctions": "states", "marketplace-catalog": "aws-marketplace", "service-quotas": "servicequotas"}
_EC2_TAKES_NO_RESOURCE = {"DescribeInstances", "DescribeVolumes", "DescribeImages", "DescribeSnapshots",
                          "DescribeRegions", "GetImageBlockPublicAccessState"}
_MARKETPLACE_REGION = "us-east-1"


class UnmodelledCall(LookupError):
    """A call whose authorization this module does not know yet."""


@dataclass(frozen=True)
class Account:
    id: str
    # Each instance profile's name -> the ARN of the one role it holds: what RunInstances passes.
    guest_roles: dict[str, str]


def requirements(call: Call, account: Account) -> list[Requirement]:
    if (call.service, call.operation) in NO_PERMISSION_NEEDED:
        return []
    build = _BY_SERVICE.get(call.service)
    if build is None:
        raise UnmodelledCall(f"{call}: no model of {call.service}'s authorization")
    return build(call, account)


def _action(call: Call) -> str:
    return f"{_PREFIXES.get(call.service, call.service)}:{call.operation}"


def _string(attribute: dict) -> str:
    return next(iter(attribute.values()))


def _dynamodb(call: Call, account: Account) -> list[Requirement]:
    table = f"arn:{PARTITION}:dynamodb:{call.region}:{account.id}:table/{call.params['TableName']}"
    if "IndexName" in call.params:   # a read of an index is authorized on the index
        table += f"/index/{call.params['IndexName']}"
    key = call.params.get("Key") or call.params.get("Item") or {}
    leading = [_string(key[name]) for name in PARTITION_KEYS if name in key]
    return [Requirement.of(_action(call), table, {"dynamodb:LeadingKeys": leading} if leading else {})]


# Each object operation is authorized on its object (a multipart upload's, a copy's target);
# a copy also reads its source, and a bulk delete deletes each object it names.
_S3_ACTIONS = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
               "CopyObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject",
               "UploadPartCopy": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
               "AbortMultipartUpload": "s3:AbortMultipartUpload", "DeleteObject": "s3:DeleteObject"}


def _copy_source(source: str | dict) -> str:
    """CopySource as ``bucket/key`` (botocore takes the string or a dict)."""
    return f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else source.lstrip("/")


def _s3(call: Call, account: Account) -> list[Requirement]:
    bucket = f"arn:{PARTITION}:s3:::{call.params['Bucket']}"
    if call.operation == "ListObjectsV2":
        return [Requirement.of("s3:ListBucket", bucket, {"s3:prefix": [call.params.get("Prefix", "")]})]
    if call.operation == "ListObjectVersions":
        return [Requirement.of("s3:ListBucketVersions", bucket, {"s3:prefix": [call.params.get("Prefix", "")]})]
    if call.operation == "ListMultipartUploads":
        return [Requirement.of("s3:ListBucketMultipartUploads", bucket)]
    if call.operation == "DeleteObjects":  # a version is deleted for good under an action of its own
        return [Requirement.of("s3:DeleteObjectVersion" if "VersionId" in item else "s3:DeleteObject",
                               f"{bucket}/{item['Key']}") for item in call.params["Delete"]["Objects"]]
    if call.operation not in _S3_ACTIONS:
        raise UnmodelledCall(f"{call}: no model of this S3 operation")
    required = [Requirement.of(_S3_ACTIONS[call.operation], f"{bucket}/{call.params['Key']}")]
    if "CopySource" in call.params:
        required.append(Requirement.of("s3:GetObject", f"arn:{PARTITION}:s3:::{_copy_source(call.params['CopySource'])}"))
    if call.error in ("NoSuchKey", "404"):
        # S3 answers a missing key with 404 only to a caller that may list the bucket (403 otherwise)
        required.append(Requirement.of("s3:ListBucket", bucket))
    return required


def _parameter(call: Call, account: Account, name: str) -> str:
    owner = "" if name.startswith("/aws/service/") else account.id  # AWS's public parameters
    return f"arn:{PARTITION}:ssm:{call.region}:{owner}:parameter{name if name.startswith('/') else '/' + name}"


def _ssm(call: Call, account: Account) -> list[Requirement]:
    names = call.params.get("Names") or [call.params["Name"]]
    required = [Requirement.of(_action(call), _parameter(call, account, name)) for name in names]
    if call.operation == "PutParameter" and call.params.get("DataType") == "aws:ec2:image":
        # SSM checks the value is an image with the caller's permissions
        required.append(Requirement.of("ec2:DescribeImages", "*"))
    # WithDecryption: the AWS managed key aws/ssm lets every principal of the account decrypt through SSM
    return required


def _secretsmanager(call: Call, account: Account) -> list[Requirement]:
    """A secret named by its name is authorized on its ARN: the name, a hyphen and six random
    characters (which a policy can only match with a wildcard)."""
    secret = call.params["SecretId"]
    if not secret.startswith("arn:"):
        secret = f"arn:{PARTITION}:secretsmanager:{call.region}:{account.id}:secret:{secret}-AbCdEf"
    return [Requirement.of(_action(call), secret)]


def _sns(call: Call, account: Account) -> list[Requirement]:
    return [Requirement.of(_action(call), call.params["TopicArn"])]


def _events(call: Call, account: Account) -> list[Requirement]:
    def bus(name: str) -> str:
        return name if name.startswith("arn:") else f"arn:{PARTITION}:events:{call.region}:{account.id}:event-bus/{name}"

    return [Requirement.of(_action(call), bus(entry.get("EventBusName", "default")),
                           {"events:source": [entry["Source"]], "events:detail-type": [entry["DetailType"]]})
            for entry in call.params["Entries"]]


def _stepfunctions(call: Call, account: Account) -> list[Requirement]:
    arn = call.params.get("executionArn") or call.params.get("stateMachineArn")
    if arn is None:
        raise UnmodelledCall(f"{call}: names no state machine or execution")
    return [Requirement.of(_action(call), arn)]


def _service_quotas(call: Call, account: Account) -> list[Requirement]:
    """A quota's ARN is the service and quota code; AWS's defaults belong to no resource."""
    if call.operation == "GetServiceQuota":
        quota = f"{call.params['ServiceCode']}/{call.params['QuotaCode']}"
        return [Requirement.of(_action(call), f"arn:{PARTITION}:servicequotas:{call.region}:{account.id}:{quota}")]
    return [Requirement.of(_action(call), "*")]


def _marketplace_catalog(call: Call, account: Account) -> list[Requirement]:
    catalog = f"arn:{PARTITION}:aws-marketplace:{_MARKETPLACE_REGION}:{account.id}:{call.params['Catalog']}"
    if call.operation == "ListChangeSets":
        return [Requirement.of(_action(call), "*")]
    if call.operation == "DescribeChangeSet":
        return [Requirement.of(_action(call), f"{catalog}/ChangeSet/{call.params['ChangeSetId']}")]
    if call.operation == "DescribeEntity":  # an entity's ARN names its type: the release describes its AmiProducts
        return [Requirement.of(_action(call), f"{catalog}/{MARKETPLACE_ENTITY_TYPE.split('@')[0]}/"
                                              f"{call.params['EntityId']}")]
    if call.operation != "StartChangeSet":
        raise UnmodelledCall(f"{call}: no model of this Marketplace Catalog operation")
    changes = call.params["ChangeSet"]
    change_types = {"catalog:ChangeType": [change["ChangeType"] for change in changes]}
    required = []  # StartChangeSet is authorized on the entities it changes (no change set resource)
    for change in changes:
        entity = change["Entity"]
        required.append(Requirement.of(_action(call), f"{catalog}/{entity['Type'].split('@')[0]}/{entity['Identifier']}",
                                       change_types))
        required += [Requirement.of("iam:PassRole", role, {"iam:PassedToService": ["assets.marketplace.amazonaws.com"]})
                     for role in _access_roles(change.get("DetailsDocument", {}))]
    tags = call.params.get("ChangeSetTags", [])
    if tags:
        required.append(Requirement.of("aws-marketplace:TagResource", f"{catalog}/ChangeSet/new",
                                       {"aws:TagKeys": [tag["Key"] for tag in tags],
                                        **{f"aws:RequestTag/{tag['Key']}": [tag["Value"]] for tag in tags}}))
    return required


def _access_roles(details: dict) -> list[str]:
    """The roles a change hands to Marketplace (an AMI delivery option's AccessRoleArn)."""
    sources = [option.get("Details", {}).get("AmiDeliveryOptionDetails", {}).get("AmiSource", {})
               for option in details.get("DeliveryOptions", [])]
    return [source["AccessRoleArn"] for source in sources if "AccessRoleArn" in source]


# -- EC2 ----------------------------------------------------------------------------------------------

def _ec2_arn(account: Account, region: str, kind: str, resource_id: str) -> str:
    owner = "" if kind in ("image", "snapshot") else account.id
    return f"arn:{PARTITION}:ec2:{region}:{owner}:{kind}/{resource_id}"


def _request_tags(call: Call) -> dict[str, list[str]]:
    tags = {key: value for spec in call.params.get("TagSpecifications", []) for key, value in as_dict(spec["Tags"]).items()}
    return {**{f"aws:RequestTag/{key}": [value] for key, value in tags.items()}, "aws:TagKeys": list(tags)} \
        if tags else {}


def _existing(call: Call, account: Account, action: str, kind: str, resource_id: str,
              region: str | None = None) -> Requirement:
    """An existing resource, with the tags it had before the call (None: it was gone). The
    request's own tags are keys of the whole request, so of this resource's authorization too."""
    tags = call.tags.get(resource_id, {})
    context = {f"{prefix}:ResourceTag/{key}": [value] for key, value in (tags or {}).items()
               for prefix in ("ec2", "aws")}
    return Requirement.of(action, _ec2_arn(account, region or call.region, kind, resource_id),
                          {**context, **_request_tags(call)}, resource_gone=tags is None)


def _new(call: Call, account: Account, action: str, kind: str, resource_id: str = "new") -> Requirement:
    """A resource the call creates (its id is not known before) or names without owning it."""
    return Requirement.of(action, _ec2_arn(account, call.region, kind, resource_id), _request_tags(call))


def _tagged_on_create(call: Call, account: Account) -> list[Requirement]:
    context = {**_request_tags(call), "ec2:CreateAction": [call.operation]}
    return [Requirement.of("ec2:CreateTags", _ec2_arn(account, call.region, spec["ResourceType"], "new"), context)
            for spec in call.params.get("TagSpecifications", [])]


def _run_instances(call: Call, account: Account) -> list[Requirement]:
    action, params = _action(call), call.params
    required = [_new(call, account, action, kind) for kind in ("instance", "volume", "network-interface")]
    required += [_new(call, account, action, "subnet", params.get("SubnetId", "default")),
                 _new(call, account, action, "security-group", "default"),
                 _existing(call, account, action, "image", params["ImageId"])]
    if "IamInstanceProfile" in params:
        required.append(Requirement.of("iam:PassRole", _guest_role(call, account),
                                       {"iam:PassedToService": ["ec2.amazonaws.com"]}))
    return required + _tagged_on_create(call, account)


def _guest_role(call: Call, account: Account) -> str:
    profile = call.params["IamInstanceProfile"].get("Name")
    if profile not in account.guest_roles:
        raise UnmodelledCall(f"{call}: instance profile {profile!r} is none of {sorted(account.guest_roles)}")
    return account.guest_roles[profile]


def _create_snapshot(call: Call, account: Account) -> list[Requirement]:
    action = _action(call)
    return [_existing(call, account, action, "volume", call.params["VolumeId"]),
            _new(call, account, action, "snapshot"), *_tagged_on_create(call, account)]


def _register_image(call: Call, account: Account) -> list[Requirement]:
    action = _action(call)
    snapshots = [m["Ebs"]["SnapshotId"] for m in call.params.get("BlockDeviceMappings", [])
                 if m.get("Ebs", {}).get("SnapshotId")]
    return [_new(call, account, action, "image"),
            *[_existing(call, account, action, "snapshot", snapshot) for snapshot in snapshots],
            *_tagged_on_create(call, account)]


def _copy_image(call: Call, account: Account) -> list[Requirement]:
    action, params = _action(call), call.params
    return [_existing(call, account, action, "image", params["SourceImageId"], params["SourceRegion"]),
            _new(call, account, action, "image"), _new(call, account, action, "snapshot"),
            *_tagged_on_create(call, account)]


_EC2_CREATING = {"RunInstances": _run_instances, "CreateSnapshot": _create_snapshot,
                 "RegisterImage": _register_image, "CopyImage": _copy_image}


def _ec2(call: Call, account: Account) -> list[Requirement]:
    if call.operation in _EC2_TAKES_NO_RESOURCE:
        return [Requirement.of(_action(call), "*")]
    if call.operation in _EC2_CREATING:
        return _EC2_CREATING[call.operation](call, account)
    if call.operation in EC2_ON_EXISTING:
        parameter, kind = EC2_ON_EXISTING[call.operation]
        return [_existing(call, account, _action(call), kind, resource_id)
                for resource_id in as_list(call.params[parameter])]
    raise UnmodelledCall(f"{call}: no model of this EC2 operation")


_BY_SERVICE = {"dynamodb": _dynamodb, "s3": _s3, "ssm": _ssm, "secretsmanager": _secretsmanager, "sns": _sns,
               "events": _events, "stepfunctions": _stepfunctions, "service-quotas": _service_quotas,
               "marketplace-catalog": _marketplace_catalog, "ec2": _ec2}
