"""Recordings behind a store port, named by the sha256 of their content.

Names are never derived from user input: a key is the lowercase sha256 hex of the bytes, so a path or an
object name can only be built from 64 hex characters. Every write goes to a temporary name first and
becomes visible under its key only once complete, so a crash never leaves a partial recording under a key.
Uploads are streamed in 1 MiB chunks, reads in 256 KiB ones (`open`, and `open_range` for HTTP Range requests:
a window on the file, a ranged S3 GET); memory stays flat whatever the size of the recording.

This module holds the port (`RecordingStore`, `StoredRecording`) and the local store; the S3 adapter is
`pipeline.service.s3`, imported by `pipeline.service.wiring.open_store` only when an S3 store is opened, so
processes that keep recordings on disk never load boto3.
"""

import contextlib
import hashlib
import io
import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from models import RecordingNotFoundError, RecordingTooLargeError
from models.files import partial_file

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
"""Bytes read from a source per step while streaming it into a store."""
READ_CHUNK = 256 << 10
"""Read-ahead of the streams `open` and `open_range` return, and the step to read them in: ten playbacks at
once hold a few MB, whatever the length of the recordings."""

_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredRecording:
    """Where a recording landed: its key (the lowercase sha256 hex of the content) and its size in bytes."""

    key: str
    size: int


class RecordingStore(Protocol):
    """The recording store port (adapters: `LocalRecordingStore`, `S3RecordingStore`).

    Keys that are not 64 lowercase hex characters raise `ValueError`; keys with nothing stored raise
    `models.RecordingNotFoundError`; an unreachable backend raises `models.StorageError` (transient).
    """

    def put(self, source: BinaryIO, max_bytes: int | None = None) -> StoredRecording:
        """Stream `source` to its end into the store and return its key and size.

        More than `max_bytes` raises `models.RecordingTooLargeError` and keeps nothing. Storing content
        that is already stored is a no-op returning the same `StoredRecording`. Empty content is accepted.
        """

    def exists(self, key: str) -> bool:
        """Whether a recording is stored under `key`."""

    def size(self, key: str) -> int:
        """The size in bytes of the recording stored under `key`."""

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the recording (seekable where the backend allows); close it after use."""

    def open_range(self, key: str, start: int, end_inclusive: int) -> BinaryIO:
        """A readable binary stream of bytes `start`..`end_inclusive` of the recording, for an HTTP Range
        request; read it in chunks and close it after use.

        The range is clipped at the end of the recording; a range starting at or past the end is an empty
        stream. Nothing is read ahead beyond a chunk, whatever the length of the range.
        """

    def delete(self, key: str) -> None:
        """Remove the recording; no error if nothing is stored under `key`."""

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A context manager yielding the path of a local file with the content; treat the file as read-only."""

    def close(self) -> None:
        """Release connections and other resources; idempotent."""


def check_key(key: str) -> str:
    """Return `key` if it is 64 lowercase hex characters, else raise `ValueError`.

    Keys never come from users, but this keeps any other string from ever becoming a path or object name.
    """
    if not isinstance(key, str) or _KEY_PATTERN.fullmatch(key) is None:
        raise ValueError("a recording key is 64 lowercase hexadecimal characters")
    return key


def check_range(start: int, end_inclusive: int) -> None:
    if start < 0 or end_inclusive < start:
        raise ValueError(f"invalid byte range {start}-{end_inclusive}")


class _Window(io.RawIOBase):
    """The next `length` bytes of a raw stream, then end of file; closing it closes the stream."""

    def __init__(self, raw: BinaryIO, length: int) -> None:
        self._raw = raw
        self._left = max(0, length)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: self._left]
        if not view:
            return 0
        count = self._raw.readinto(view)  # type: ignore[attr-defined]
        self._left -= count or 0
        return count or 0

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def _limit_text(max_bytes: int) -> str:
    if max_bytes >= 1 << 20 and max_bytes % (1 << 20) == 0:
        return f"{max_bytes >> 20} MiB"
    if max_bytes >= 1_000_000 and max_bytes % 1_000_000 == 0:
        return f"{max_bytes // 1_000_000} MB"
    return f"{max_bytes} bytes"


def copy_hashing(source: BinaryIO, target: BinaryIO, max_bytes: int | None) -> StoredRecording:
    """Copy `source` to `target` in chunks while hashing; raise once more than `max_bytes` have arrived."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise RecordingTooLargeError(f"recording larger than the {_limit_text(max_bytes)} limit")
        digest.update(chunk)
        target.write(chunk)
    return StoredRecording(key=digest.hexdigest(), size=size)


class LocalRecordingStore:
    """Recordings as files under `root`, at `root/ab/cd/<sha256>`.

    The two-level fan-out keeps directories small. A recording is written as a partial file in `root/tmp/`
    (`models.files.partial_file`), on the same file system as its final place, so one rename publishes it.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, source: BinaryIO, max_bytes: int | None = None) -> StoredRecording:
        """Stream `source` into the store; see `RecordingStore.put`."""
        # The name is known only once the content is hashed; a unique partial name lets puts run side by side.
        with partial_file(self._tmp / f"put-{uuid.uuid4().hex}", "xb", durable=True) as partial:
            stored = copy_hashing(source, partial.handle, max_bytes)
            path = self._path(stored.key)
            if path.is_file():
                logger.debug("recording %s already stored", stored.key)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Two puts of the same content may race here; both replace with identical bytes.
                partial.publish(path)
                logger.debug("stored recording %s (%d bytes)", stored.key, stored.size)
        return stored

    def exists(self, key: str) -> bool:
        """Whether a recording is stored under `key`."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """The size in bytes of the recording stored under `key`."""
        path = self._path(key)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise RecordingNotFoundError("no recording stored under this key") from None

    def open(self, key: str) -> BinaryIO:
        """The stored file, opened for binary reading (seekable)."""
        path = self._path(key)
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise RecordingNotFoundError("no recording stored under this key") from None

    def open_range(self, key: str, start: int, end_inclusive: int) -> BinaryIO:
        """A window on the stored file, clipped at its end; see `RecordingStore.open_range`."""
        check_range(start, end_inclusive)
        path = self._path(key)
        try:
            raw = path.open("rb", buffering=0)
        except FileNotFoundError:
            raise RecordingNotFoundError("no recording stored under this key") from None
        # Clip to the file: `end_inclusive` may be far past the end.
        end = min(end_inclusive, os.fstat(raw.fileno()).st_size - 1)
        if end >= start:
            raw.seek(start)
        return cast(BinaryIO, io.BufferedReader(_Window(cast(BinaryIO, raw), end - start + 1), READ_CHUNK))

    def delete(self, key: str) -> None:
        """Remove the recording; no error if absent.

        Emptied fan-out directories are kept: removing them could race with a concurrent put into them.
        """
        self._path(key).unlink(missing_ok=True)
        logger.debug("deleted recording %s", key)

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """Yield the stored file itself (no copy is made); the caller must not modify it."""
        path = self._path(key)
        if not path.is_file():
            raise RecordingNotFoundError("no recording stored under this key")
        yield path

    def close(self) -> None:
        """Nothing to release; present for the port."""
