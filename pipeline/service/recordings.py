"""Recordings behind a store port, named by the sha256 of their content.

Names are never derived from user input: a key is the lowercase sha256 hex of the bytes, so a path or an
object name can only be built from 64 hex characters. Every write goes to a temporary name first and
becomes visible under its key only once complete, so a crash never leaves a partial recording under a key.
Uploads are streamed in 1 MiB chunks, reads in 256 KiB ones (`open`, and `open_range` for HTTP Range requests:
a window on the file, a ranged S3 GET); memory stays flat whatever the size of the recording.
"""

import contextlib
import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from models import RecordingNotFoundError, RecordingTooLargeError, StorageError

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
"""Bytes read from a source per step while streaming it into a store."""
READ_CHUNK = 256 << 10
"""Read-ahead of the streams `open` and `open_range` return, and the step to read them in: ten playbacks at
once hold a few MB, whatever the length of the recordings."""

_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
# S3 error codes that mean "no such object" (HEAD answers carry only the status, hence "404").
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


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


def _check_range(start: int, end_inclusive: int) -> None:
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


def _copy_hashing(source: BinaryIO, target: BinaryIO, max_bytes: int | None) -> StoredRecording:
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


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


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


class LocalRecordingStore:
    """Recordings as files under `root`, at `root/ab/cd/<sha256>`.

    The two-level fan-out keeps directories small. Temporary files live in `root/tmp/`, on the same
    file system as their final place, so `os.replace` publishes them atomically.
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
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as tmp:
                stored = _copy_hashing(source, tmp, max_bytes)
                tmp.flush()
                os.fsync(tmp.fileno())
            path = self._path(stored.key)
            if path.is_file():
                logger.debug("recording %s already stored", stored.key)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Two puts of the same content may race here; both replace with identical bytes.
                os.replace(tmp_path, path)
                _fsync_dir(path.parent)
                logger.debug("stored recording %s (%d bytes)", stored.key, stored.size)
        finally:
            tmp_path.unlink(missing_ok=True)
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
        _check_range(start, end_inclusive)
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


class _S3Body(io.RawIOBase):
    """An S3 response body as a raw stream whose failures surface as `StorageError`."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except BotoCoreError as error:
            raise StorageError(f"recording store read failed: {type(error).__name__}") from error
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3RecordingStore:
    """Recordings as objects `<prefix><sha256>` in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO).

    Uploads stream the source to a local temporary file while hashing (the key must be known before the
    upload starts), then `upload_file` sends it, in parts above `multipart_threshold`, reading from disk.
    `connect_timeout`, `read_timeout` (seconds) and `max_attempts` (botocore "standard" retries, first try
    included) bound how long an unreachable store blocks before `StorageError`. `tmp_dir` holds the
    temporary files (default: the system's); it needs room for the largest recording.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        prefix: str = "recordings/",
        client: Any = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 4,
        multipart_threshold: int = 16 << 20,
        tmp_dir: Path | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self._tmp_dir = tmp_dir
        self._owns_client = client is None
        if client is None:
            config = Config(
                s3={"addressing_style": "path"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": max_attempts, "mode": "standard"},
            )
            # A private session: the module-level default session is shared, mutable state.
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
                config=config,
            )
        self._client = client
        # Uploaded parts are read from the temporary file as they are sent, so memory does not grow with the
        # part size; downloads queue at most max_io_queue * 256 KiB for the writer (default 100 → 25 MiB).
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_threshold,
            max_concurrency=4,
            max_io_queue=16,
        )

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    @contextlib.contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Translate boto3/botocore failures: missing object → RecordingNotFoundError, the rest → StorageError."""
        try:
            yield
        except ClientError as error:
            code = _error_code(error)
            if code in _MISSING_CODES:
                raise RecordingNotFoundError("no recording stored under this key") from None
            raise StorageError(f"recording store {operation} failed: {code or 'unknown error'}") from error
        except (BotoCoreError, Boto3Error) as error:
            # s3transfer wraps the ClientError of a failed upload; its code says more than the wrapper.
            context = error.__cause__ or error.__context__
            detail = _error_code(context) if isinstance(context, ClientError) else type(error).__name__
            raise StorageError(f"recording store {operation} failed: {detail}") from error

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (idempotent)."""
        with self._errors("bucket check"):
            try:
                self._client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as error:
                if _error_code(error) not in _MISSING_CODES | {"NoSuchBucket"}:
                    raise
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if self.region != "us-east-1":
                # us-east-1 is the one region that rejects an explicit location constraint.
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            try:
                self._client.create_bucket(**kwargs)
            except ClientError as error:
                if _error_code(error) != "BucketAlreadyOwnedByYou":
                    raise
        logger.info("created recording bucket %s", self.bucket)

    def put(self, source: BinaryIO, max_bytes: int | None = None) -> StoredRecording:
        """Stream `source` into the bucket via a local temporary file; see `RecordingStore.put`."""
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp_dir, prefix="recording-put-")
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as tmp:
                stored = _copy_hashing(source, tmp, max_bytes)
            if self.exists(stored.key):
                logger.debug("recording %s already stored", stored.key)
                return stored
            with self._errors("upload"):
                # One PUT or a multipart upload: either way the object appears only once complete.
                self._client.upload_file(
                    str(tmp_path),
                    self.bucket,
                    self._name(stored.key),
                    ExtraArgs={"ContentType": "application/octet-stream"},
                    Config=self._transfer,
                )
            logger.debug("stored recording %s (%d bytes)", stored.key, stored.size)
            return stored
        finally:
            tmp_path.unlink(missing_ok=True)

    def _head(self, key: str) -> dict[str, Any]:
        with self._errors("lookup"):
            return cast(dict[str, Any], self._client.head_object(Bucket=self.bucket, Key=self._name(key)))

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        try:
            self._head(key)
        except RecordingNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        """The size in bytes of the object stored under `key`."""
        return int(self._head(key)["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        """A buffered, forward-only stream of the object; close it to release the connection."""
        with self._errors("read"):
            response = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        return cast(BinaryIO, io.BufferedReader(_S3Body(response["Body"]), READ_CHUNK))

    def open_range(self, key: str, start: int, end_inclusive: int) -> BinaryIO:
        """The body of a ranged GET, streamed as it arrives; see `RecordingStore.open_range`."""
        _check_range(start, end_inclusive)
        name = self._name(key)
        with self._errors("read"):
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=name, Range=f"bytes={start}-{end_inclusive}")
            except ClientError as error:
                if _error_code(error) != "InvalidRange":
                    raise
                # 416: the range starts at or past the end; tell a missing object apart from a short one.
                self._client.head_object(Bucket=self.bucket, Key=name)
                return io.BytesIO(b"")
        return cast(BinaryIO, io.BufferedReader(_S3Body(response["Body"]), READ_CHUNK))

    def delete(self, key: str) -> None:
        """Remove the object; no error if absent."""
        name = self._name(key)
        with self._errors("delete"):
            self._client.delete_object(Bucket=self.bucket, Key=name)
        logger.debug("deleted recording %s", key)

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """Download the object to a temporary file, yield its path, and delete it on exit."""
        name = self._name(key)
        tmp_dir = Path(tempfile.mkdtemp(dir=self._tmp_dir, prefix="recording-copy-"))
        try:
            path = tmp_dir / key
            with self._errors("download"):
                self._client.download_file(self.bucket, name, str(path), Config=self._transfer)
            yield path
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)

    def close(self) -> None:
        """Close the client's connection pool if this store created the client; idempotent."""
        if self._owns_client:
            self._client.close()


def open_store(
    kind: str,
    *,
    root: Path | None = None,
    bucket: str | None = None,
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str = "us-east-1",
    prefix: str = "recordings/",
) -> RecordingStore:
    """Build the configured store: "local" needs `root`, "s3" needs `bucket`; anything else is a ValueError."""
    if kind == "local":
        if root is None:
            raise ValueError('the "local" recording store needs a root directory')
        return LocalRecordingStore(root)
    if kind == "s3":
        if not bucket:
            raise ValueError('the "s3" recording store needs a bucket name')
        return S3RecordingStore(
            bucket,
            endpoint_url=endpoint_url,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            prefix=prefix,
        )
    raise ValueError(f'unknown recording store kind {kind!r} (expected "local" or "s3")')
