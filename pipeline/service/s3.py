"""The S3 recording store: `<prefix><sha256>` objects in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO).

Imported by `pipeline.service.wiring.open_store` only when the store is configured as "s3": boto3 stays out
of processes that keep recordings on disk.
"""

import contextlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from models import RecordingNotFoundError, StorageError
from pipeline.service.recordings import READ_CHUNK, StoredRecording, check_key, check_range, copy_hashing

logger = logging.getLogger(__name__)

# S3 error codes that mean "no such object" (HEAD answers carry only the status, hence "404").
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


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
                stored = copy_hashing(source, tmp, max_bytes)
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
        check_range(start, end_inclusive)
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
