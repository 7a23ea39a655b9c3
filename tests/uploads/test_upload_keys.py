"""Where an upload's keys lie (pure): beside a session's files, never nameable by a file path."""

from __future__ import annotations

import pytest

from gateway.errors import NotFound
from gateway.keys import Owner, is_upload_id, new_tail_name, new_upload_id, session_prefix_of, upload_of


def test_an_upload_lies_beside_the_files_and_is_found_from_any_of_its_keys() -> None:
    owner = Owner(root="gw", tenant="t", user="usér 😀", owner_key=b"k" * 32)
    keys = owner.session("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    upload_id = new_upload_id(bytes(range(16)))
    assert is_upload_id(upload_id)
    upload = keys.upload(upload_id)
    assert upload.prefix == keys.prefix + f"uploads/{upload_id}/"
    assert upload.upload_id == upload_id
    tail = upload.tail(new_tail_name(bytes(10)))
    for key in (upload.state, tail):
        assert not key.startswith(keys.files_prefix)
        assert session_prefix_of("gw", key) is None  # no walk of files meets it
        found = upload_of("gw", key)
        assert found is not None and found[0].prefix == keys.prefix and found[1] == upload
    assert upload_of("gw", keys.file("uploads/x")) is None  # a file named like the folder is only a file


@pytest.mark.parametrize("bad", ["", "A" * 26, "a" * 25, "../" + "a" * 23, "a" * 26 + "/"])
def test_an_id_this_api_cannot_have_made_names_nothing(bad: str) -> None:
    keys = Owner(root="", tenant=None, user="u", owner_key=b"k" * 32).session("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(NotFound):
        keys.upload(bad)
