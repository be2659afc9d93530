"""An EC2 instance metadata service for one guest, IMDSv2 only (as with ``HttpTokens=required``).

It serves what cloud-init's EC2 datasource crawls (the token, the versions it probes, user data,
the meta-data tree and the instance identity document) and what the guest scripts read (the
instance id, the region and the role's credentials). Guests reach it at 169.254.169.254 through
QEMU's guestfwd, one connection per request, so HTTP/1.0 and HTTP/1.1 are both answered."""

import hashlib
import json
import secrets
import threading
import time
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from atomic_release.local.guests.credentials import CredentialRegistry, SessionCredentials, iso_time
from atomic_release.local.serving import BackgroundServer
from chalicelib.core.arch import Arch

# "latest" and the versions cloud-init asks for: its minimum and its extended versions.
VERSIONS = ("latest", "2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04")
TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL_S = 21600
QEMU_GUEST_MAC = "52:54:00:12:34:56"  # the MAC QEMU gives a guest's first NIC unless told otherwise
QEMU_GUEST_IPV4 = "10.0.2.15"  # the address QEMU's user network leases to the guest by default

Tree = dict[str, "Tree | str"]


def _derived_id(prefix: str, seed: str, length: int = 17) -> str:
    """A resource id (subnet, VPC, interface) stable for one instance, so repeated crawls agree."""
    return f"{prefix}-{hashlib.sha256(f'{prefix}/{seed}'.encode()).hexdigest()[:length]}"


class MetadataServer(BackgroundServer):
    """``with MetadataServer(...) as imds: imds.url``: one guest's metadata, on 127.0.0.1.

    The role's credentials are made here (``credentials``) and, while the server runs, are in
    ``registry``, where the Step Functions endpoint finds them to check the guest's signatures."""

    def __init__(self, *, instance_id: str, region: str, availability_zone: str, arch: Arch, image_id: str,
                 instance_type: str, account_id: str, role_name: str, registry: CredentialRegistry,
                 user_data: str | None = None, mac: str = QEMU_GUEST_MAC, local_ipv4: str = QEMU_GUEST_IPV4):
        self.instance_id, self.region, self.availability_zone = instance_id, region, availability_zone
        self.role_name, self.user_data, self.arch = role_name, user_data or None, arch
        self.image_id, self.instance_type, self.account_id = image_id, instance_type, account_id
        self.mac, self.local_ipv4 = mac, local_ipv4
        self.registry = registry
        self.credentials = SessionCredentials.generate()
        self.launched = datetime.now(UTC).replace(microsecond=0)
        self._tokens: dict[str, float] = {}  # session token -> when it expires (monotonic)
        self._tokens_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"imds": self})
        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), handler), f"imds-{instance_id}")

    def __enter__(self):
        self.registry.add(self.credentials)
        try:
            return super().__enter__()
        except BaseException:
            self.registry.remove(self.credentials.access_key_id)
            raise

    def __exit__(self, *exc) -> None:
        try:
            super().__exit__(*exc)
        finally:
            self.registry.remove(self.credentials.access_key_id)

    # -- session tokens -----------------------------------------------------------------------
    def issue_token(self, ttl_s: int) -> str:
        token = secrets.token_urlsafe(42)
        with self._tokens_lock:
            self._tokens[token] = time.monotonic() + ttl_s
        return token

    def token_valid(self, token: str | None) -> bool:
        with self._tokens_lock:
            expires = self._tokens.get(token or "")
        return expires is not None and time.monotonic() < expires

    # -- what it serves -----------------------------------------------------------------------
    @property
    def hostname(self) -> str:
        domain = "ec2.internal" if self.region == "us-east-1" else f"{self.region}.compute.internal"
        return f"ip-{self.local_ipv4.replace('.', '-')}.{domain}"

    def identity_document(self) -> dict:
        return {"accountId": self.account_id, "architecture": self.arch, "availabilityZone": self.availability_zone,
                "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
                "imageId": self.image_id, "instanceId": self.instance_id, "instanceType": self.instance_type,
                "kernelId": None, "pendingTime": iso_time(self.launched), "privateIp": self.local_ipv4,
                "ramdiskId": None, "region": self.region, "version": "2017-09-30"}

    def role_credentials(self) -> dict:
        c = self.credentials
        return {"Code": "Success", "LastUpdated": iso_time(c.issued), "Type": "AWS-HMAC",
                "AccessKeyId": c.access_key_id, "SecretAccessKey": c.secret_access_key, "Token": c.token,
                "Expiration": iso_time(c.expiration)}

    def tree(self) -> Tree:
        """Everything under a version prefix; a dict is a directory, a str a leaf's body."""
        vpc, subnet = _derived_id("vpc", self.instance_id), _derived_id("subnet", self.instance_id)
        interface: Tree = {
            "device-number": "0", "network-card": "0", "interface-id": _derived_id("eni", self.instance_id),
            "local-hostname": self.hostname, "local-ipv4s": self.local_ipv4, "mac": self.mac,
            "owner-id": self.account_id, "subnet-id": subnet, "subnet-ipv4-cidr-block": "10.0.2.0/24",
            "vpc-id": vpc, "vpc-ipv4-cidr-block": "10.0.0.0/16", "vpc-ipv4-cidr-blocks": "10.0.0.0/16"}
        meta_data: Tree = {
            "ami-id": self.image_id, "ami-launch-index": "0", "hostname": self.hostname,
            "instance-id": self.instance_id, "instance-type": self.instance_type,
            "local-hostname": self.hostname, "local-ipv4": self.local_ipv4, "mac": self.mac,
            "block-device-mapping": {"ami": "/dev/xvda", "root": "/dev/xvda"},
            "iam": {"info": json.dumps(self.instance_profile(), indent=2),
                    "security-credentials": {self.role_name: json.dumps(self.role_credentials(), indent=2)}},
            "network": {"interfaces": {"macs": {self.mac: interface}}},
            "placement": {"availability-zone": self.availability_zone, "region": self.region},
            "services": {"domain": "amazonaws.com", "partition": "aws"}}
        tree: Tree = {"meta-data": meta_data,
                      "dynamic": {"instance-identity": {"document": json.dumps(self.identity_document(), indent=2)}}}
        if self.user_data:
            tree["user-data"] = self.user_data
        return tree

    def instance_profile(self) -> dict:
        return {"Code": "Success", "LastUpdated": iso_time(self.credentials.issued),
                "InstanceProfileArn": f"arn:aws:iam::{self.account_id}:instance-profile/{self.role_name}",
                "InstanceProfileId": "AIPA" + hashlib.sha256(self.role_name.encode()).hexdigest()[:17].upper()}

    def lookup(self, path: str) -> str | None:
        """The body for a GET of ``path`` (listings for directories), or None where EC2 says 404."""
        if path in ("", "/"):
            return "\n".join(VERSIONS)
        version, _, rest = path.strip("/").partition("/")
        if version not in VERSIONS:
            return None
        node: Tree | str = self.tree()
        for part in [p for p in rest.split("/") if p]:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if isinstance(node, str):
            return None if path.endswith("/") else node
        return "\n".join(f"{name}/" if isinstance(child, dict) else name for name, child in sorted(node.items()))


class _Handler(BaseHTTPRequestHandler):
    imds: MetadataServer
    protocol_version = "HTTP/1.1"  # EC2 answers 1.1; a 1.0 request or Connection: close still closes
    timeout = 30  # an idle kept-alive connection lets its thread go

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_PUT(self) -> None:
        if self.path != TOKEN_PATH:
            return self._reply(HTTPStatus.NOT_FOUND)
        if self.headers.get("X-Forwarded-For"):  # EC2 refuses a token to anything proxied
            return self._reply(HTTPStatus.FORBIDDEN)
        ttl = self.headers.get(TTL_HEADER, "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL_S:
            return self._reply(HTTPStatus.BAD_REQUEST)
        token = self.imds.issue_token(int(ttl))
        self._reply(HTTPStatus.OK, token, {TTL_HEADER: ttl})

    def do_GET(self) -> None:
        if not self.imds.token_valid(self.headers.get(TOKEN_HEADER)):
            return self._reply(HTTPStatus.UNAUTHORIZED)
        body = self.imds.lookup(self.path.split("?", 1)[0])
        if body is None:
            return self._reply(HTTPStatus.NOT_FOUND)
        self._reply(HTTPStatus.OK, body)

    def _reply(self, status: HTTPStatus, body: str | None = None, headers: dict[str, str] | None = None) -> None:
        payload = (body if body is not None else _error_page(status)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if status == HTTPStatus.OK else "text/html")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _error_page(status: HTTPStatus) -> str:
    """EC2's error bodies: a small HTML page naming the status."""
    return (f'<?xml version="1.0" encoding="iso-8859-1"?>\n<html><head><title>{status.value} - {status.phrase}'
            f"</title></head><body><h1>{status.value} - {status.phrase}</h1></body></html>\n")
