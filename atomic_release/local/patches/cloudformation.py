"""CloudFormation: resource types the stack uses that moto's CloudFormation skips (with a warning)
and the local deployment must make: the metadata bucket's policy, the release alarms, the
webhook secret and the distribution in front of the bucket. (A state machine and a REST API are
made by their own services' patches.)"""

import json
import uuid

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel


class BucketPolicy(CloudFormationModel):
    def __init__(self, bucket: str):
        self.bucket = bucket

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.s3.models import s3_backends

        properties = cloudformation_json["Properties"]
        policy = properties["PolicyDocument"]
        # moto enforces a policy's statements but not their conditions: the TLS-only Deny
        # (aws:SecureTransport false) would deny every request, so it is left out here.
        statements = [s for s in policy["Statement"] if s["Effect"] != "Deny" or "Condition" not in s]
        s3_backends[account_id]["aws"].put_bucket_policy(properties["Bucket"],
                                                         json.dumps({**policy, "Statement": statements}).encode())
        return cls(properties["Bucket"])


class Alarm(CloudFormationModel):
    def __init__(self, name: str):
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.cloudwatch.models import cloudwatch_backends

        p = cloudformation_json["Properties"]
        cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=p.get("AlarmName", resource_name), namespace=p["Namespace"], metric_name=p["MetricName"],
            comparison_operator=p["ComparisonOperator"], evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p["Period"]), threshold=float(p["Threshold"]), statistic=p["Statistic"],
            description=p.get("AlarmDescription", ""), dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []), treat_missing_data=p.get("TreatMissingData"))
        return cls(p.get("AlarmName", resource_name))


class Secret(CloudFormationModel):
    """Ref is the secret's ARN; GenerateSecretString makes its value, as Secrets Manager does."""

    def __init__(self, arn: str):
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.secretsmanager.models import secretsmanager_backends

        backend = secretsmanager_backends[account_id][region_name]
        p = cloudformation_json["Properties"]
        value = p.get("SecretString")
        if value is None:
            generate = p.get("GenerateSecretString", {})
            value = json.loads(backend.get_random_password(
                password_length=int(generate.get("PasswordLength", 32)),
                exclude_characters=generate.get("ExcludeCharacters", ""),
                exclude_numbers=bool(generate.get("ExcludeNumbers")),
                exclude_punctuation=bool(generate.get("ExcludePunctuation")),
                exclude_uppercase=bool(generate.get("ExcludeUppercase")),
                exclude_lowercase=bool(generate.get("ExcludeLowercase")),
                include_space=bool(generate.get("IncludeSpace")),
                require_each_included_type=bool(generate.get("RequireEachIncludedType", True))))["RandomPassword"]
        created = backend.create_secret(
            name=p.get("Name", resource_name), secret_string=value, secret_binary=None,
            description=p.get("Description"), tags=p.get("Tags"), kms_key_id=p.get("KmsKeyId"),
            client_request_token=None, replica_regions=[], force_overwrite=False)
        return cls(json.loads(created)["ARN"])


class OriginAccessControl(CloudFormationModel):
    def __init__(self, control_id: str):
        self.id = control_id

    @property
    def physical_resource_id(self) -> str:
        return self.id

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::OriginAccessControl"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.cloudfront.models import cloudfront_backends

        config = cloudformation_json["Properties"]["OriginAccessControlConfig"]
        return cls(cloudfront_backends[account_id]["aws"].create_origin_access_control(config).id)


class ResponseHeadersPolicy(CloudFormationModel):
    """moto's CloudFront keeps no response headers policies: the policy is only given its id."""

    def __init__(self, policy_id: str):
        self.id = policy_id

    @property
    def physical_resource_id(self) -> str:
        return self.id

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::ResponseHeadersPolicy"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return cls(str(uuid.uuid4()))


class Distribution(CloudFormationModel):
    """Made in moto's CloudFront from the template's configuration, whose lists the API wraps in
    ``Items``; ``DomainName`` is the distribution's *.cloudfront.net name."""

    def __init__(self, distribution_id: str, domain_name: str):
        self.id, self.domain_name = distribution_id, domain_name

    @property
    def physical_resource_id(self) -> str:
        return self.id

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::Distribution"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return {"DomainName": self.domain_name, "Id": self.id}[attribute_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.cloudfront.models import cloudfront_backends

        config = dict(cloudformation_json["Properties"]["DistributionConfig"])
        behavior = dict(config["DefaultCacheBehavior"])
        behavior["AllowedMethods"] = {"Items": behavior.get("AllowedMethods", ["GET", "HEAD"]),
                                      "CachedMethods": {"Items": behavior.pop("CachedMethods", ["GET", "HEAD"])}}
        config.update(CallerReference=resource_name, Origins={"Items": [dict(o) for o in config["Origins"]]},
                      DefaultCacheBehavior=behavior)
        created, _, _ = cloudfront_backends[account_id]["aws"].create_distribution(config, [])
        return cls(created.distribution_id, created.domain_name)


def install() -> None:
    """Subclasses register themselves with moto's model map; its cache is cleared to see them."""
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
