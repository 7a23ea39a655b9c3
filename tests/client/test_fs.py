"""`sgw://` through fsspec (found by its entry point) and pandas, against a real gateway."""

from __future__ import annotations

import io
import os
import unicodedata
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest
from fsspec.implementations.local import LocalFileSystem
from session_gateway_client import Client, NotFound
from session_gateway_client.fs import SessionGatewayFileSystem

from tests.client.conftest import NAMES
from tests.conftest import Gateway


def nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


@pytest.fixture
def options(gateway: Gateway, user: str) -> dict[str, Any]:
    return {"url": gateway.url, "token": gateway.token(user)}


@pytest.fixture
def fs(options: dict[str, Any]) -> SessionGatewayFileSystem:
    found = fsspec.filesystem("sgw", **options)
    assert isinstance(found, SessionGatewayFileSystem)
    return found


def test_open_read_write_and_pandas(fs: SessionGatewayFileSystem, options: dict[str, Any], sgw: Client) -> None:
    sid = sgw.create_session("fsspec").id
    url = f"sgw://{sid}/data/{NAMES[1]} 100%.csv"
    with fsspec.open(url, "w", encoding="utf-8", **options) as text:
        text.write("name,n\nété 🎉,1\nb,2\n")
    frame = pd.read_csv(url, storage_options=options)
    assert frame.to_dict("list") == {"name": ["été 🎉", "b"], "n": [1, 2]}
    assert sgw.file_info(sid, f"data/{NAMES[1]} 100%.csv").content_type == "text/csv"
    # Reading is ranged: a small block size reads the file in parts, all of one version.
    with fs.open(url, "rb", block_size=5) as binary:
        binary.seek(5)
        assert binary.read(8) == "name,n\nété 🎉".encode()[5:13]
        sgw.upload(sid, f"data/{NAMES[1]} 100%.csv", b"replaced meanwhile")
        binary.seek(0)
        assert binary.read() == "name,n\nété 🎉,1\nb,2\n".encode()
    # Writing uploads once, on close, with the type its name says; a failure inside the block writes nothing.
    with fs.open(f"sgw://{sid}/big.bin", "wb", block_size=1 << 16) as big:
        for _ in range(5):
            big.write(b"z" * 50_000)
    assert fs.info(f"sgw://{sid}/big.bin")["size"] == 250_000
    with pytest.raises(RuntimeError), fs.open(f"sgw://{sid}/half.txt", "wb") as half:
        half.write(b"half")
        raise RuntimeError("stopped")
    assert not fs.exists(f"sgw://{sid}/half.txt")
    with pytest.raises(FileExistsError), fs.open(f"sgw://{sid}/big.bin", "xb") as again:
        again.write(b"x")
    assert fs.cat_file(f"sgw://{sid}/big.bin", -3) == b"zzz"


def test_filesystem_operations(fs: SessionGatewayFileSystem, sgw: Client, tmp_path: Path) -> None:
    sid = sgw.create_session().id
    root = f"sgw://{sid}"
    for index, name in enumerate(NAMES):
        fs.pipe(f"{root}/{name}", f"{index}".encode())
    names = sorted(f"{sid}/{nfc(name)}" for name in NAMES)
    assert fs.find(root) == names
    assert fs.cat(f"{root}/{NAMES[3]}") == b"3"
    assert fs.cat_file(f"{root}/{NAMES[4]}", 0, 1) == b"4"
    assert fs.cat_file(f"{root}/{NAMES[4]}", 5, 9) == b""
    both = fs.cat([f"{root}/{NAMES[0]}", f"{root}/{NAMES[2]}"])
    assert both == {f"{sid}/{NAMES[0]}": b"0", f"{sid}/{nfc(NAMES[2])}": b"2"}
    assert sorted(fs.ls(root, detail=False)) == sorted(
        [f"{sid}/café", f"{sid}/Résumé", f"{sid}/🎉", f"{sid}/日本語", f"{sid}/{NAMES[3]}", f"{sid}/{NAMES[4]}"]
    )
    detailed = {entry["name"]: entry for entry in fs.ls(f"{root}/café/", detail=True)}
    assert detailed[f"{sid}/{NAMES[0]}"]["type"] == "file" and detailed[f"{sid}/{NAMES[0]}"]["size"] == 1
    assert fs.ls(f"{root}/{NAMES[3]}", detail=False) == [f"{sid}/{NAMES[3]}"]
    assert fs.info(f"{root}/café")["type"] == "directory"
    assert fs.info(root)["type"] == "directory" and fs.isdir(root)
    file_info = fs.info(f"{root}/{NAMES[3]}")
    assert (file_info["type"], file_info["size"], file_info["content_type"]) == ("file", 1, "text/plain")
    assert fs.exists(f"{root}/{NAMES[2]}") and not fs.exists(f"{root}/missing %41.txt")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{root}/missing/")
    local = tmp_path / "up"
    local.mkdir()
    (local / "a été.txt").write_bytes(b"A" * 1000)
    fs.put(str(local / "a été.txt"), f"{root}/up/🎉 a.txt")
    fs.put_file(str(local / "a été.txt"), f"{root}/up/b.txt")
    fs.get(f"{root}/up/🎉 a.txt", str(tmp_path / "down.txt"))
    assert (tmp_path / "down.txt").read_bytes() == b"A" * 1000
    fs.get(f"{root}/up", str(tmp_path / "tree"), recursive=True)
    assert LocalFileSystem().find(str(tmp_path / "tree")) == [str(tmp_path / "tree" / n) for n in ("b.txt", "🎉 a.txt")]
    with pytest.raises(FileNotFoundError):
        fs.get(f"{root}/nothing.txt", str(tmp_path / "nothing.txt"))
    assert not (tmp_path / "nothing.txt").exists()
    fs.mkdir(f"{root}/empty")
    fs.makedirs(f"{root}/empty/deeper", exist_ok=True)
    fs.rm_file(f"{root}/up/b.txt")
    fs.rm([f"{root}/{NAMES[3]}"])
    fs.rm(f"{root}/up", recursive=True)
    fs.cp_file(f"{root}/{NAMES[4]}", f"{root}/copie/{NAMES[4]}")
    fs.mv(f"{root}/日本語", f"{root}/moved")
    left = (*NAMES[:3], NAMES[4], f"copie/{NAMES[4]}", "moved/ファイル.csv")
    assert fs.find(root) == sorted(f"{sid}/{nfc(name)}" for name in left)
    assert fs.sign(f"{root}/{NAMES[4]}", expiration=60).startswith("http")
    with pytest.raises(FileNotFoundError):
        fs.rm_file(f"{root}/{NAMES[3]}")
    fs.rm(root, recursive=True)
    assert not fs.exists(root)


def test_sessions_are_the_top_level(fs: SessionGatewayFileSystem, sgw: Client) -> None:
    made = {sgw.create_session(f"top {i}").id for i in range(2)}
    assert set(fs.ls("sgw://", detail=False)) == made
    assert {entry["name"] for entry in fs.ls("")} == made
    assert all(entry["type"] == "directory" for entry in fs.ls(""))
    empty = sorted(made)[0]
    fs.rmdir(f"sgw://{empty}")
    assert set(fs.ls("", detail=False)) == made - {empty}


def test_another_users_file_is_not_found(gateway: Gateway, fs: SessionGatewayFileSystem, sgw: Client) -> None:
    sid = sgw.create_session().id
    sgw.upload(sid, NAMES[0], b"mine")
    stranger = fsspec.filesystem("sgw", url=gateway.url, token=gateway.token("stranger"))
    path = f"sgw://{sid}/{NAMES[0]}"
    assert fs.cat(path) == b"mine"
    assert not stranger.exists(path)
    for attempt in (stranger.info, stranger.cat, stranger.ls, stranger.open):
        with pytest.raises(FileNotFoundError):
            attempt(path)
    with pytest.raises(NotFound):
        stranger.pipe(path, b"theirs")
    assert fs.cat(path) == b"mine"


def test_the_environment_configures_the_filesystem(
    monkeypatch: pytest.MonkeyPatch, gateway: Gateway, sgw: Client, user: str
) -> None:
    sid = sgw.create_session().id
    monkeypatch.setenv("SGW_URL", gateway.url)
    monkeypatch.setenv("SGW_TOKEN", gateway.token(user))
    with fsspec.open(f"sgw://{sid}/env.txt", "wb") as out:
        out.write(b"from the environment")
    assert pd.read_csv(io.BytesIO(fsspec.filesystem("sgw").cat(f"sgw://{sid}/env.txt")), header=None).shape == (1, 1)
    # The same cached filesystem follows the environment to another caller.
    monkeypatch.setenv("SGW_TOKEN", gateway.token("nobody"))
    assert not fsspec.filesystem("sgw").exists(f"sgw://{sid}/env.txt")
    assert os.environ["SGW_URL"] == gateway.url
