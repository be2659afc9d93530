"""Only the adapters in chalicelib/aws create boto3 clients.

Every module of chalicelib outside chalicelib/aws, every function module and app.py is read
(AST) for a call of the client factory (chalicelib.aws.clients.client) or of boto3's own
constructors (boto3.client, boto3.resource, boto3.Session, boto3.session.Session). The store's
DynamoDB tables call chalicelib.aws.dynamodb like every other caller. atomic_release/local/ is
the moto harness that stands the stack up: it may use the factory and is not scanned, nor is
the CLI under atomic_release/cli."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACTORY_MODULE = "chalicelib.aws.clients"
FACTORY = "client"
BOTO3_CONSTRUCTORS = {("boto3", "client"), ("boto3", "resource"), ("boto3", "Session"),
                      ("boto3", "session", "Session"), ("boto3", "session")}


def scanned_files() -> list[Path]:
    aws = ROOT / "chalicelib" / "aws"
    return sorted([*(p for p in (ROOT / "chalicelib").rglob("*.py") if aws not in p.parents),
                   *(ROOT / "functions").rglob("*.py"), ROOT / "app.py"])


def _bindings(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    """Local name -> the dotted path it stands for, for imports of boto3 and the factory's module."""
    bound: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = tuple(alias.name.split("."))
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = (top,)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                bound[alias.asname or alias.name] = (*node.module.split("."), alias.name)
    return bound


def _dotted(node: ast.expr, bound: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, bound)
        return (*base, node.attr) if base else None
    return None


def forbidden_calls(source: str, name: str = "<source>") -> list[str]:
    """``file:line: what`` of every call that makes a boto3 client outside the adapters."""
    tree = ast.parse(source, name)
    bound = _bindings(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        path = _dotted(node.func, bound)
        if path == (*FACTORY_MODULE.split("."), FACTORY) or path in BOTO3_CONSTRUCTORS:
            found.append(f"{name}:{node.lineno}: {'.'.join(path)}")
    return found


@pytest.mark.parametrize("source", [
    "from chalicelib.aws.clients import client\nclient('ec2', 'us-east-1').describe_images()",
    "from chalicelib.aws.clients import client as make\nmake('sns')",
    "from chalicelib.aws import clients\nclients.client('s3')",
    "import chalicelib.aws.clients\nchalicelib.aws.clients.client('s3')",
    "import boto3\nboto3.client('ec2')",
    "import boto3\nboto3.session.Session().client('ec2')",
    "from boto3 import Session\nSession()",
    "from boto3.session import Session\nSession()",
])
def test_the_scan_finds_a_client_made_outside_the_adapters(source):
    assert forbidden_calls(source)


def test_the_scan_lets_adapters_and_botos_types_be_used():
    source = ("from boto3.dynamodb.types import TypeSerializer\nfrom chalicelib.aws import ec2\n"
              "from chalicelib.aws.clients import client_token\n"
              "TypeSerializer()\nec2.images_by_name('us-east-1', [], 'r')\nclient_token('a')")
    assert forbidden_calls(source) == []


def test_nothing_outside_chalicelib_aws_makes_a_boto3_client():
    files = scanned_files()
    assert ROOT / "app.py" in files and any(p.parent.name == "stages" for p in files)
    found = [call for path in files for call in forbidden_calls(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == []
