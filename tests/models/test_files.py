"""The one atomic write: whole or not at all."""

import os

import pytest

from models.files import atomic_write, partial_file, write_atomic


def test_text_and_bytes_replace_the_file_and_leave_no_partial(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old", encoding="utf-8")
    write_atomic(path, "新的")
    assert path.read_text(encoding="utf-8") == "新的"
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [item.name for item in tmp_path.iterdir()] == ["out.json"]


def test_an_error_inside_the_block_keeps_the_old_file_and_removes_the_partial(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_write(path, newline="") as handle:
        handle.write("half a fi")
        assert (tmp_path / "rows.csv.partial").exists()
        raise RuntimeError("disk full")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert not (tmp_path / "rows.csv.partial").exists()


def test_the_folder_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "out.txt", "x")
    assert not (tmp_path / "missing").exists()


def test_a_partial_file_is_published_under_a_name_chosen_after_writing(tmp_path):
    (tmp_path / "tmp").mkdir()
    with partial_file(tmp_path / "tmp" / "put-1", "xb") as partial:
        partial.handle.write(b"content")
        assert partial.path == tmp_path / "tmp" / "put-1" and partial.path.exists()
        final = tmp_path / "by-content"
        partial.publish(final)
    assert final.read_bytes() == b"content"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_partial_file_not_published_is_removed_with_or_without_an_error(tmp_path):
    with partial_file(tmp_path / "kept-back") as partial:
        partial.handle.write(b"already stored elsewhere")
    with pytest.raises(RuntimeError), partial_file(tmp_path / "broken-off") as partial:
        partial.handle.write(b"half")
        raise RuntimeError("client went away")
    assert list(tmp_path.iterdir()) == []


def test_a_new_partial_name_must_be_new(tmp_path):
    taken = tmp_path / "put-1"
    taken.write_bytes(b"another writer's")
    with pytest.raises(FileExistsError), partial_file(taken, "xb"):
        pass
    assert taken.read_bytes() == b"another writer's"


def test_a_durable_publish_syncs_the_content_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.fstat(fd).st_ino) or real_fsync(fd))
    final = tmp_path / "recording"
    with partial_file(tmp_path / "put-1", durable=True) as partial:
        partial.handle.write(b"audio")
        partial.publish(final)
    assert synced == [final.stat().st_ino, tmp_path.stat().st_ino]
    assert final.read_bytes() == b"audio"
