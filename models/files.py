"""Writing a file whole or not at all: the one atomic write every package uses (model assembly, voiceprints,
lexicon, routing model, CLI outputs, exports, stored recordings).

`atomic_write` is the usual form: the final path is known before writing. `partial_file` is the same write
for a file whose name is known only once it is written (a recording named by the sha256 of its content).
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["PARTIAL_SUFFIX", "PartialFile", "atomic_write", "partial_file", "write_atomic"]

PARTIAL_SUFFIX = ".partial"
"""The file is written as `<name>.partial` beside its place, on the same file system, then renamed."""


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once its directory entry is; not every platform can open a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class PartialFile:
    """A file being written under a temporary name (`path`, open as `handle`), shown under its final name by
    one rename (`publish`)."""

    def __init__(self, path: Path, handle: IO[Any], *, durable: bool) -> None:
        self.path = path
        self.handle = handle
        self.published = False
        self._durable = durable

    def publish(self, path: Path) -> None:
        """Close the file and rename it to `path` (`os.replace`: any file there is replaced; the same file system
        as the partial file). Durable: the content and the new name are on disk before this returns."""
        if self._durable:
            self.handle.flush()
            os.fsync(self.handle.fileno())
        self.handle.close()
        self.path.replace(path)
        self.published = True
        if self._durable:
            _fsync_dir(Path(path).parent)


@contextmanager
def partial_file(
    path: Path, mode: str = "wb", *, durable: bool = False, encoding: str = "utf-8", newline: str | None = None
) -> Iterator[PartialFile]:
    """Open `path` for writing as a partial file; the block publishes it (`PartialFile.publish`) or, whether it
    ends with an error or not, it is removed. `mode` is "w" (text, `encoding`, `newline`), "wb", or "x"/"xb"
    for a name that must be new. `durable` adds the fsyncs a store needs to survive a power cut."""
    path = Path(path)
    handle = path.open(mode, encoding=None if "b" in mode else encoding, newline=newline)
    partial = PartialFile(path, handle, durable=durable)
    try:
        yield partial
    finally:
        handle.close()
        if not partial.published:
            path.unlink(missing_ok=True)


@contextmanager
def atomic_write(
    path: Path, mode: str = "w", *, encoding: str = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open `<path>.partial` for writing; when the block ends without an error it replaces `path` in one rename
    (`os.replace`), so a reader sees the old file or the new one, never half of one; on an error it is removed.
    The folder must exist. `mode` is "w" (text, `encoding`, `newline`) or "wb"."""
    path = Path(path)
    partial_path = path.with_name(path.name + PARTIAL_SUFFIX)
    with partial_file(partial_path, mode, encoding=encoding, newline=newline) as partial:
        yield partial.handle
        partial.publish(path)


def write_atomic(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Write `data` (text or bytes) to `path` atomically (see `atomic_write`)."""
    with atomic_write(path, "wb" if isinstance(data, bytes) else "w", encoding=encoding) as handle:
        handle.write(data)
