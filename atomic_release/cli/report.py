"""What a release put into the world, read back from AWS rather than from the pipeline's memory:
per architecture and region the image, whether it is public, and the SSM parameter naming it."""

from botocore.exceptions import ClientError
from pydantic import BaseModel

from chalicelib.aws.clients import client
from chalicelib.aws.ssm import parameter_value
from chalicelib.core.arch import ec2_arch
from chalicelib.core.config import load_streams
from chalicelib.store import records


class ImageRow(BaseModel):
    arch: str
    region: str
    image_id: str
    public: bool
    ssm_parameter: str
    ssm_points_here: bool


def _is_public(region: str, image_id: str) -> bool:
    try:
        images = client("ec2", region).describe_images(ImageIds=[image_id])["Images"]
    except ClientError:
        return False
    return bool(images) and bool(images[0].get("Public"))


def image_rows(release_id: str) -> list[ImageRow]:
    record = records.get(release_id)
    if record is None:
        return []
    stream = load_streams().stream(record.stream)
    rows = []
    for arch in sorted(record.images):
        for region in record.regions:
            image_id = record.images[arch].get(region)
            if not image_id:
                continue
            parameter = stream.ssm_parameter(ec2_arch(arch), record.version)
            rows.append(ImageRow(arch=arch, region=region, image_id=image_id, public=_is_public(region, image_id),
                                 ssm_parameter=parameter,
                                 ssm_points_here=parameter_value(region, parameter) == image_id))
    return rows
