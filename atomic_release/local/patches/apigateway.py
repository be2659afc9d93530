"""API Gateway: a RestApi CloudFormation makes from an OpenAPI body."""


def _rest_api_from_its_body(original):
    """A RestApi made from an OpenAPI Body takes its name from the body's title and its routes
    from its paths (moto needs Name, and imports only OpenAPI 3 bodies: chalice writes Swagger 2,
    whose paths read the same for this)."""

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.apigateway.models import apigateway_backends

        properties = cloudformation_json["Properties"]
        body = properties.get("Body") or {}
        properties.setdefault("Name", body.get("info", {}).get("title", resource_name))
        api = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        if body.get("paths"):
            routes = {key: value for key, value in body.items() if key != "swagger"}
            apigateway_backends[account_id][region_name].put_rest_api(api.id, routes, fail_on_warnings=False)
        return api

    return classmethod(create)


def install() -> None:
    from moto.apigateway.models import RestAPI

    RestAPI.create_from_cloudformation_json = _rest_api_from_its_body(RestAPI.create_from_cloudformation_json)
