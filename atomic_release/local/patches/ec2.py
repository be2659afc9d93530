"""EC2 as the release depends on it: RegisterImage and CopyImage keep what real EC2 keeps, an
attachment reports DeleteOnTermination, RunInstances and CopyImage are reported to the runtime,
and what moto lacks altogether is emulated beside this (``ec2_emulation``)."""

from moto.ec2.responses.amis import AmisResponse
from moto.ec2.utils import convert_tag_spec

from atomic_release.local import patches
from atomic_release.local.patches import ec2_emulation


def _keep_registered_attributes(original):
    """register_image keeps what real EC2 keeps (moto keeps only Name and Description)."""

    def register_image(self):
        result = original(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        ami.architecture = self._get_param("Architecture", "x86_64")
        ami.boot_mode = self._get_param("BootMode")
        ami.ena_support = self._get_param("EnaSupport", False)
        ami.sriov = self._get_param("SriovNetSupport", "simple")
        ami.virtualization_type = self._get_param("VirtualizationType", "hvm")
        ami.root_device_name = self._get_param("RootDeviceName", ami.root_device_name)
        ami.root_device_type = "ebs"
        ami.imds_support = self._get_param("ImdsSupport")
        mappings = self._get_param("BlockDeviceMappings", [])
        root = next((m for m in mappings if m.get("DeviceName") == ami.root_device_name and "Ebs" in m), None)
        if root and root["Ebs"].get("SnapshotId"):
            moto_snapshot = ami.ebs_snapshot
            ami.ebs_snapshot = self.ec2_backend.get_snapshot(root["Ebs"]["SnapshotId"])
            ami.ebs_snapshot.from_ami = ami.id
            self.ec2_backend.snapshots.pop(moto_snapshot.id, None)
        ami.kept_block_device_mappings = _mappings(ami, mappings)
        for key, value in convert_tag_spec(self._get_param("TagSpecifications", [])).get("image", {}).items():
            ami.add_tag(key, value)
        return result

    return register_image


def _mappings(ami, requested: list[dict]) -> list[dict]:
    kept = []
    for mapping in requested:
        ebs = dict(mapping.get("Ebs", {}))
        if mapping.get("DeviceName") == ami.root_device_name:
            ebs["SnapshotId"] = ami.ebs_snapshot.id
        ebs.setdefault("VolumeSize", ami.ebs_snapshot.volume.size)
        ebs.setdefault("DeleteOnTermination", True)
        ebs.setdefault("VolumeType", "gp3")
        ebs.setdefault("Encrypted", False)
        kept.append({"DeviceName": mapping["DeviceName"], "Ebs": ebs})
    return kept


_COPIED_ATTRIBUTES = ("architecture", "boot_mode", "ena_support", "sriov", "virtualization_type",
                      "root_device_name", "root_device_type", "imds_support")


def _keep_copied_attributes(original):
    """copy_image keeps the source's boot attributes, and applies CopyImageTags and
    TagSpecifications (to the image and to the snapshot the copy creates)."""

    def copy_image(self):
        result = original(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        from moto.ec2.models import ec2_backends

        source_backend = ec2_backends[self.current_account][self._get_param("SourceRegion")]
        source = source_backend.amis[self._get_param("SourceImageId")]
        for name in _COPIED_ATTRIBUTES:
            if hasattr(source, name):
                setattr(ami, name, getattr(source, name))
        if hasattr(source, "kept_block_device_mappings"):
            ami.kept_block_device_mappings = [
                {**m, "Ebs": {**m["Ebs"], "SnapshotId": ami.ebs_snapshot.id}} if "SnapshotId" in m["Ebs"] else m
                for m in source.kept_block_device_mappings
            ]
        ami.ebs_snapshot.from_ami = ami.id
        if self._get_param("CopyImageTags", False):
            for tag in source.get_tags():
                if not tag["key"].startswith("aws:"):
                    ami.add_tag(tag["key"], tag["value"])
        specs = convert_tag_spec(self._get_param("TagSpecifications", []))
        for key, value in specs.get("image", {}).items():
            ami.add_tag(key, value)
        for key, value in specs.get("snapshot", {}).items():
            ami.ebs_snapshot.add_tag(key, value)
        if patches.current is not None:
            patches.current.copied(self.region, ami)
        return result

    return copy_image


def _block_device_mappings(original_property):
    def getter(self):
        return getattr(self, "kept_block_device_mappings", None) or original_property.fget(self)

    return property(getter)


def _report_launches(original):
    """Tell the runtime which instances a RunInstances call made, once it has returned: moto
    registers a reservation before its instances have their tags and disks."""

    def run_instances(self, *args, **kwargs):
        reservation = original(self, *args, **kwargs)
        if patches.current is not None:
            patches.current.launched(self.region_name, [instance.id for instance in reservation.instances])
        return reservation

    return run_instances


def _goes_with_its_instance(attachment) -> bool:
    """DescribeVolumes' DeleteOnTermination of an attachment (moto leaves it out)."""
    mapping = attachment.instance.block_device_mapping.get(attachment.device)
    return bool(mapping and mapping.delete_on_termination)


def install() -> None:
    AmisResponse.register_image = _keep_registered_attributes(AmisResponse.register_image)
    AmisResponse.copy_image = _keep_copied_attributes(AmisResponse.copy_image)
    from moto.ec2.models.amis import Ami

    Ami.block_device_mappings = _block_device_mappings(Ami.block_device_mappings)
    from moto.ec2.models.elastic_block_store import VolumeAttachment

    # moto's VolumeAttachment has no DeleteOnTermination; DescribeVolumes reads this property
    VolumeAttachment.delete_on_termination = property(_goes_with_its_instance)  # type: ignore[attr-defined]
    ec2_emulation.install()
    from moto.ec2.models.instances import InstanceBackend

    InstanceBackend.run_instances = _report_launches(InstanceBackend.run_instances)
