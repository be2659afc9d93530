"""The committed JSON Schemas of the published documents are what their models say, and other
tools can read documents with them."""

import json
from pathlib import Path

import jsonschema
import pytest

from chalicelib.models.schemas import SCHEMAS, render

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "schemas"
FEDORA = Path(__file__).parent / "data" / "fedora-coreos"


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_committed_schema_is_what_the_model_writes(name):
    assert (COMMITTED / name).read_text() == render(SCHEMAS[name]), "run `make schemas`"


def test_every_committed_schema_is_of_a_model():
    assert sorted(path.name for path in COMMITTED.iterdir()) == sorted(SCHEMAS)


@pytest.mark.parametrize(("fixture", "name"), [("stable", "stream.json"), ("release", "release.json")])
def test_a_real_fedora_coreos_document_meets_the_exported_schema(fixture, name):
    schema = json.loads((COMMITTED / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)

    jsonschema.validate(json.loads((FEDORA / f"{fixture}.json").read_text()), schema,
                        cls=jsonschema.Draft202012Validator)


def test_the_exported_schema_refuses_a_field_the_documents_do_not_have():
    raw = json.loads((FEDORA / "stable.json").read_text())
    raw["architectures"]["x86_64"]["artifacts"]["metal"]["formats"]["raw.xz"]["disk"]["sha-256"] = "0" * 64

    with pytest.raises(jsonschema.ValidationError, match="sha-256"):
        jsonschema.validate(raw, json.loads((COMMITTED / "stream.json").read_text()),
                            cls=jsonschema.Draft202012Validator)


def test_the_index_schema_requires_each_release_s_commit_time():
    raw = json.loads((FEDORA / "releases.json").read_text())

    with pytest.raises(jsonschema.ValidationError, match="'commit-time' is a required property"):
        jsonschema.validate(raw, json.loads((COMMITTED / "release-index.json").read_text()),
                            cls=jsonschema.Draft202012Validator)
