"""Writing a file whole or not at all: the one atomic write every package uses (model assembly, voiceprints,
lexicon, routing model, CLI outputs, exports)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["PARTIAL_SUFFIX", "atomic_write", "write_atomic"]

PARTIAL_SUFFIX = ".partial"
"""The file is written as `<name>.partial` beside its place, on the same file system, then renamed."""


@contextmanager
def atomic_write(
    path: Path, mode: str = "w", *, encoding: str = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open `<path>.partial` for writing; when the block ends without an error it replaces `path` in one rename
    (`os.replace`), so a reader sees the old file or the new one, never half of one; on an error it is removed.
    The folder must exist. `mode` is "w" (text, `encoding`, `newline`) or "wb"."""
    path = Path(path)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        with partial.open(mode, encoding=None if "b" in mode else encoding, newline=newline) as handle:
            yield handle
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Write `data` (text or bytes) to `path` atomically (see `atomic_write`)."""
    with atomic_write(path, "wb" if isinstance(data, bytes) else "w", encoding=encoding) as handle:
        handle.write(data)
