"""The metadata server a real guest boots against: IMDSv2's token flow, the tree cloud-init's EC2
datasource crawls, and the role credentials the guest signs its Step Functions calls with."""

import json
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from atomic_release.local.guests.credentials import CredentialRegistry
from atomic_release.local.guests.metadata import MetadataServer

INSTANCE_ID = "i-0a1b2c3d4e5f60718"
ROLE = "atomic-release-local-qa"
USER_DATA = "#!/bin/bash\necho qa\n"
MAC = "52:54:00:12:34:56"


def metadata_server(registry: CredentialRegistry, user_data: str | None = USER_DATA) -> MetadataServer:
    return MetadataServer(instance_id=INSTANCE_ID, region="us-east-2", availability_zone="us-east-2b",
                          arch="arm64", image_id="ami-0123456789abcdef0", instance_type="c7g.large",
                          account_id="123456789012", role_name=ROLE, registry=registry, user_data=user_data,
                          mac=MAC)


@pytest.fixture
def registry() -> CredentialRegistry:
    return CredentialRegistry()


@pytest.fixture
def imds(registry):
    with metadata_server(registry) as server:
        yield server


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, body) of one request; an HTTP error is an answer too."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers or {}),
                                    timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def token(imds: MetadataServer, ttl: str = "21600") -> str:
    status, body = request(f"{imds.url}/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
    assert status == 200
    return body


def get(imds: MetadataServer, path: str, session: str) -> tuple[int, str]:
    return request(f"{imds.url}/{path}", headers={"X-aws-ec2-metadata-token": session})


def test_a_token_opens_the_tree_and_nothing_else_does(imds):
    assert request(f"{imds.url}/latest/meta-data/instance-id")[0] == 401
    assert get(imds, "latest/meta-data/instance-id", "not-a-token")[0] == 401
    assert get(imds, "latest/meta-data/instance-id", token(imds)) == (200, INSTANCE_ID)


@pytest.mark.parametrize("ttl", ["0", "21601", "", "ten"])
def test_a_token_needs_a_ttl_between_one_second_and_six_hours(imds, ttl):
    headers = {"X-aws-ec2-metadata-token-ttl-seconds": ttl} if ttl else {}
    assert request(f"{imds.url}/latest/api/token", "PUT", headers)[0] == 400


def test_a_proxied_token_request_is_refused(imds):
    status, _ = request(f"{imds.url}/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                                                                "X-Forwarded-For": "10.0.2.15"})
    assert status == 403


def test_listings_name_one_entry_a_line_with_directories_slashed(imds):
    session = token(imds)
    status, listing = get(imds, "latest/meta-data/", session)
    assert status == 200
    entries = listing.split("\n")
    assert {"instance-id", "ami-id", "instance-type", "local-hostname", "hostname", "local-ipv4", "mac",
            "placement/", "iam/", "network/", "services/"} <= set(entries)
    assert get(imds, "latest/meta-data/placement/", session) == (200, "availability-zone\nregion")
    assert get(imds, "latest/meta-data/iam/security-credentials/", session) == (200, ROLE)
    nic = get(imds, f"latest/meta-data/network/interfaces/macs/{MAC}/", session)[1].split("\n")
    assert {"device-number", "local-ipv4s", "mac", "subnet-id", "vpc-id"} <= set(nic)


def test_leaves_carry_the_instance_facts_under_every_version(imds):
    session = token(imds)
    for version in ("latest", "2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04"):
        assert get(imds, f"{version}/meta-data/placement/availability-zone", session) == (200, "us-east-2b")
        assert get(imds, f"{version}/meta-data/placement/region", session) == (200, "us-east-2")
        assert get(imds, f"{version}/meta-data/instance-type", session) == (200, "c7g.large")
        assert get(imds, f"{version}/meta-data/services/domain", session) == (200, "amazonaws.com")
    assert get(imds, "2007-01-19/meta-data/instance-id", session)[0] == 404
    assert get(imds, "latest/meta-data/no-such-thing", session)[0] == 404


def test_the_role_credentials_are_the_registered_ones_in_imds_shape(imds, registry):
    status, body = get(imds, f"latest/meta-data/iam/security-credentials/{ROLE}", token(imds))
    assert status == 200
    served = json.loads(body)
    assert (served["Code"], served["Type"]) == ("Success", "AWS-HMAC")
    assert served["AccessKeyId"].startswith("ASIA") and len(served["AccessKeyId"]) == 20
    registered = registry.get(served["AccessKeyId"])
    assert registered is not None
    assert (served["SecretAccessKey"], served["Token"]) == (registered.secret_access_key, registered.token)
    expiration = datetime.strptime(served["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expiration > datetime.now(UTC)
    assert json.loads(get(imds, "latest/meta-data/iam/info", token(imds))[1])["InstanceProfileArn"].endswith(ROLE)


def test_leaving_the_server_withdraws_its_credentials(registry):
    with metadata_server(registry) as server:
        key = server.credentials.access_key_id
        assert registry.get(key) is not None
    assert registry.get(key) is None


def test_user_data_is_served_and_absent_user_data_is_404(imds, registry):
    assert get(imds, "latest/user-data", token(imds)) == (200, USER_DATA)
    with metadata_server(registry, user_data=None) as bare:
        session = token(bare)
        assert get(bare, "latest/user-data", session)[0] == 404
        assert "user-data" not in get(bare, "latest/", session)[1].split("\n")


def test_the_identity_document_names_instance_region_and_architecture(imds):
    session = token(imds)
    assert get(imds, "latest/dynamic/instance-identity", session) == (200, "document")
    document = json.loads(get(imds, "latest/dynamic/instance-identity/document", session)[1])
    assert {k: document[k] for k in ("instanceId", "region", "availabilityZone", "architecture", "imageId",
                                     "instanceType", "accountId")} == {
        "instanceId": INSTANCE_ID, "region": "us-east-2", "availabilityZone": "us-east-2b", "architecture": "arm64",
        "imageId": "ami-0123456789abcdef0", "instanceType": "c7g.large", "accountId": "123456789012"}


@pytest.mark.parametrize("request_line_and_headers",
                         ["HTTP/1.0\r\n", "HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n"])
def test_one_request_per_connection_gets_its_answer_and_the_connection_closes(imds, request_line_and_headers):
    """What QEMU's guestfwd carries: one socat, one connection, one request."""
    session = token(imds)
    host, port = imds.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"GET /latest/meta-data/instance-id {request_line_and_headers}"
                           f"X-aws-ec2-metadata-token: {session}\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(4096):  # the server closing the connection ends the loop
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200") and body == INSTANCE_ID


def crawl(base: str, session: str, seen: list[str]) -> dict | str:
    """A tree crawled as cloud-init's MetadataMaterializer crawls it: a listing's entries ending
    in "/" are directories, others leaves; security credentials are never materialized."""
    def read(url: str) -> str:
        seen.append(url)
        status, body = request(url, headers={"X-aws-ec2-metadata-token": session})
        assert status == 200, url
        return body

    tree: dict = {}
    for entry in read(base).splitlines():
        name = entry.rstrip("/")
        if name == "security-credentials":
            continue
        tree[name] = crawl(f"{base.rstrip('/')}/{name}/", session, seen) if entry.endswith("/") else \
            read(f"{base.rstrip('/')}/{name}")
    return tree


def test_a_crawl_like_cloud_inits_finds_what_its_ec2_datasource_reads(imds):
    session = token(imds)
    # cloud-init takes the first of its extended versions that answers instance-id with 200
    version = next(v for v in ("2021-03-23", "2018-09-24", "2016-09-02")
                   if get(imds, f"{v}/meta-data/instance-id", session)[0] == 200)
    seen: list[str] = []
    meta_data = crawl(f"{imds.url}/{version}/meta-data/", session, seen)
    identity = crawl(f"{imds.url}/{version}/dynamic/instance-identity", session, seen)
    assert isinstance(meta_data, dict) and isinstance(identity, dict)
    assert meta_data["instance-id"] == INSTANCE_ID
    assert meta_data["placement"]["availability-zone"] == "us-east-2b"
    nic = meta_data["network"]["interfaces"]["macs"][MAC]
    assert (nic["mac"], nic["device-number"], nic["local-ipv4s"]) == (MAC, "0", imds.local_ipv4)
    assert "vpc-id" in nic  # without it cloud-init takes the instance for EC2-Classic
    assert json.loads(identity["document"])["instanceId"] == INSTANCE_ID
    assert not [url for url in seen if "security-credentials" in url]
    assert get(imds, f"{version}/user-data", session) == (200, USER_DATA)
