"""The one atomic write: whole or not at all."""

import pytest

from models.files import atomic_write, write_atomic


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
