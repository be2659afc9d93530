"""The downloadable images of a simulated builder's disk: a small disk whose bytes follow from the
commit it holds, its raw.xz (Python's lzma, the format xz writes) and its qcow2.xz.

The qcow2 is written here rather than by qemu-img, so that the same disk always makes the same
bytes whatever qemu-img a machine has (and where it has none): version 2, 64 KiB clusters, one
L1 and one L2 table, every cluster referenced once, and only the clusters that hold data."""

import hashlib
import lzma
import struct

from chalicelib.models.artifacts import ArtifactFormat, DiskArtifact

CLUSTER_BITS = 16
CLUSTER = 1 << CLUSTER_BITS
SIMULATED_DISK_BYTES = 4 << 20
_L2_ENTRIES = CLUSTER // 8
_COPIED = 1 << 63  # the cluster is referenced once: writable in place
_HEADER = struct.Struct(">4sIQIIQIIQQIIQ")  # QCOW version 2's 72 bytes


def simulated_disk(osname: str, commit: str, arch: str) -> bytes:
    """A disk image that says what it holds, with data in some clusters and zeros in the others."""
    label = f"atomic-release simulated disk: {osname} {commit} {arch}\n".encode()
    filled = hashlib.sha256(label).digest() * (CLUSTER // 32)
    clusters = [label.ljust(CLUSTER, b"\0"), *(filled if n % 4 == 1 else bytes(CLUSTER) for n in range(1, SIMULATED_DISK_BYTES // CLUSTER))]
    return b"".join(clusters)


def qcow2(disk: bytes) -> bytes:
    """The disk as a qcow2 image (at most 512 MiB: one L2 table's reach)."""
    if len(disk) > _L2_ENTRIES * CLUSTER or len(disk) % CLUSTER:
        raise ValueError(f"a disk of {len(disk)} bytes is not a whole number of clusters within one L2 table")
    data = [(n, disk[n * CLUSTER:(n + 1) * CLUSTER]) for n in range(len(disk) // CLUSTER)]
    data = [(n, cluster) for n, cluster in data if cluster.strip(b"\0")]
    # clusters: 0 header, 1 L1 table, 2 refcount table, 3 refcount block, 4 L2 table, then data
    l1, refcount_table, refcount_block, l2, first_data = (n * CLUSTER for n in range(1, 6))
    total_clusters = 5 + len(data)
    header = _HEADER.pack(b"QFI\xfb", 2, 0, 0, CLUSTER_BITS, len(disk), 0, 1, l1, refcount_table, 1, 0, 0)
    l2_table = bytearray(CLUSTER)
    for index, (n, _) in enumerate(data):
        struct.pack_into(">Q", l2_table, 8 * n, (first_data + index * CLUSTER) | _COPIED)
    return b"".join([
        header.ljust(CLUSTER, b"\0"),
        struct.pack(">Q", l2 | _COPIED).ljust(CLUSTER, b"\0"),
        struct.pack(">Q", refcount_block).ljust(CLUSTER, b"\0"),
        struct.pack(f">{total_clusters}H", *[1] * total_clusters).ljust(CLUSTER, b"\0"),
        bytes(l2_table),
        *(cluster for _, cluster in data),
    ])


def compressed_artifact(artifact_format: ArtifactFormat, key: str, image: bytes) -> tuple[bytes, DiskArtifact]:
    """``image`` xz-compressed, and the artifact that describes it."""
    payload = lzma.compress(image, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64)
    return payload, DiskArtifact(format=artifact_format, key=key, size=len(payload),
                                 sha256=hashlib.sha256(payload).hexdigest(),
                                 uncompressed_sha256=hashlib.sha256(image).hexdigest())
