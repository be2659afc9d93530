from hypothesis import given
from hypothesis import strategies as st

from chalicelib.guest import read_user_data, render_user_data, token_fingerprint


@given(token=st.text(min_size=1, max_size=300), commit=st.text(max_size=80))
def test_user_data_carries_parameters_verbatim(token, commit):
    text = render_user_data("builder", {"task_token": token, "commit": commit}, deadline_minutes=120)
    assert read_user_data(text) == {"role": "builder", "task_token": token, "commit": commit}


def test_user_data_is_a_script_that_powers_off_at_its_deadline():
    text = render_user_data("qa", {"task_token": "t"}, deadline_minutes=60)
    assert text.startswith("#!/bin/bash\n")
    assert "shutdown -P +60" in text


def test_foreign_user_data_is_not_a_guest():
    assert read_user_data("#cloud-config\nruncmd: []\n") is None


def test_token_fingerprint_is_short_and_distinct():
    assert len(token_fingerprint("a")) == 16
    assert token_fingerprint("a") != token_fingerprint("b")
