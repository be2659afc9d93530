import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from chalicelib.models.stream_metadata import Release, ReleaseIndex, Stream, document

FEDORA = Path(__file__).parent / "data" / "fedora-coreos"


@pytest.mark.parametrize(("name", "model"), [("stable", Stream), ("release", Release), ("releases", ReleaseIndex)])
def test_a_real_fedora_coreos_document_round_trips_unchanged(name, model):
    raw = json.loads((FEDORA / f"{name}.json").read_text())

    assert document(model.model_validate(raw)) == raw


def test_a_field_the_go_types_do_not_have_is_refused():
    raw = json.loads((FEDORA / "stable.json").read_text())
    raw["architectures"]["x86_64"]["artifacts"]["metal"]["formats"]["raw.xz"]["disk"]["sha-256"] = "0" * 64

    with pytest.raises(ValidationError, match="sha-256"):
        Stream.model_validate(raw)
