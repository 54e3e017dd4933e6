"""Issue 12, the audio items, replayed against the real app (real services on SQLite, the local store and S3
on a real SeaweedFS; a queue that runs nothing, so no model loads):

3. playback by HTTP Range streams every range in bounded chunks from the store, and follows RFC 9110;
4. a recording longer than the hour limit is refused at push, whatever its header says;
10. the audio is served with the type of the container found by decoding, never the uploader's label;
11. what the push accepts, the worker's decoder decodes (one decode check for both).
"""

import asyncio
import io
import struct
import tracemalloc
import uuid
import wave
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import tone, write_audio
from fastapi.testclient import TestClient
from seaweed import running_seaweed
from service_builders import auth, make_settings, new_key, push, quiet_services
from sqlalchemy import update

from api.main import create_app
from asr.audio import load_audio
from models import AudioDecodeError, AudioTooLongError
from pipeline.service.database import Call
from pipeline.service.recordings import READ_CHUNK

AGENT = "A-SEC-1"


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    with running_seaweed(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@contextmanager
def running_service(folder: Path, store: dict | None = None):
    """The app with the default limits (upload size raised for the streaming test), a recording queue, and
    a telephony and an operator key; on the local store, or on the S3 store `store` describes."""
    overrides: dict = {"max_upload_mb": 80, **({"store": store} if store else {})}
    settings = make_settings(folder, f"sqlite:///{folder / 'hotline.db'}", **overrides)
    services = quiet_services(settings)
    # the operator's key is the agent's whose calls these are (an operator sees its own agent's and team's)
    keys = {"telephony": new_key(services, "telephony"), "operator": new_key(services, "operator", agent_id=AGENT)}
    try:
        with TestClient(create_app(services=services)) as client:
            yield {"client": client, "services": services, "keys": keys}
    finally:
        services.store.close()
        services.engine.dispose()


@pytest.fixture(scope="module", params=["local", "s3"])
def service(request, tmp_path_factory):
    """A running service on each store: for what the store serves."""
    store = None
    if request.param == "s3":
        server = request.getfixturevalue("seaweed")
        store = {
            "kind": "s3",
            "bucket": "hotline-security-test",
            "endpoint_url": server.endpoint_url,
            "access_key": server.access_key,
            "secret_key": server.secret_key,
            "prefix": f"run-{uuid.uuid4().hex[:8]}/",
        }
    with running_service(tmp_path_factory.mktemp(f"audio-{request.param}"), store) as running:
        yield running


@pytest.fixture(scope="module")
def local_service(tmp_path_factory):
    """A running service on the local store: for what the push checks (the store plays no part)."""
    with running_service(tmp_path_factory.mktemp("push")) as running:
        yield running


def pushed(service, audio: Path | bytes, content_type: str = "audio/wav") -> tuple[str, bytes]:
    call_id = f"sec-{uuid.uuid4().hex[:10]}"
    client, key = service["client"], service["keys"]["telephony"]
    response = push(client, key, audio, call_id, content_type=content_type, agent_id=AGENT)
    assert response.status_code == 202, response.text
    return call_id, audio.read_bytes() if isinstance(audio, Path) else audio


def silent_wav(seconds: float, channels: int = 2, sample_rate: int = 8000) -> bytes:
    """16-bit PCM WAV of near-silence (a little noise, so no stage can mistake it for nothing), 32 kB/s stereo."""
    rng = np.random.default_rng(0)
    block = rng.integers(-64, 64, size=sample_rate * channels, dtype=np.int16).tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        whole, rest = divmod(int(seconds * sample_rate), sample_rate)
        for _ in range(whole):
            out.writeframes(block)
        out.writeframes(block[: rest * channels * 2])
    return buffer.getvalue()


# --- item 3: Range ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def played(service):
    """A 100 kB recording pushed once: (call id, its bytes)."""
    return pushed(service, silent_wav(1.6))


def get_audio(service, call_id: str, **headers: str):
    return service["client"].get(f"/v1/calls/{call_id}/audio", headers={**auth(service["keys"]["operator"]), **headers})


def test_range_requests_follow_rfc_9110(service, played):
    call_id, data = played
    size = len(data)
    etag = get_audio(service, call_id).headers["etag"]
    cases = [
        # (Range, If-Range, status, Content-Range, body)
        (None, None, 200, None, data),
        ("bytes=0-", None, 206, f"bytes 0-{size - 1}/{size}", data),
        ("bytes=100-199", None, 206, f"bytes 100-199/{size}", data[100:200]),
        ("bytes=100-", None, 206, f"bytes 100-{size - 1}/{size}", data[100:]),
        (f"bytes={size - 5}-{size + 1000}", None, 206, f"bytes {size - 5}-{size - 1}/{size}", data[-5:]),
        ("bytes=-10", None, 206, f"bytes {size - 10}-{size - 1}/{size}", data[-10:]),
        # §14.1.2: a suffix longer than the representation selects all of it
        (f"bytes=-{size + 1000}", None, 206, f"bytes 0-{size - 1}/{size}", data),
        ("BYTES=0-0", None, 206, f"bytes 0-0/{size}", data[:1]),  # units are case-insensitive (§14.1)
        ("bytes=0-" + "9" * 5000, None, 206, f"bytes 0-{size - 1}/{size}", data),
        # §14.1.1: unsatisfiable
        ("bytes=-0", None, 416, f"bytes */{size}", None),
        (f"bytes={size}-", None, 416, f"bytes */{size}", None),
        ("bytes=" + "9" * 5000 + "-", None, 416, f"bytes */{size}", None),
        # invalid ranges-specifier
        ("bytes=5-2", None, 416, f"bytes */{size}", None),
        ("bytes=abc", None, 416, f"bytes */{size}", None),
        ("bytes=-", None, 416, f"bytes */{size}", None),
        ("bytes=", None, 416, f"bytes */{size}", None),
        ("bytes=1 - 2", None, 416, f"bytes */{size}", None),
        # several ranges: the whole representation (a server MAY ignore Range)
        ("bytes=0-1,5-6", None, 200, None, data),
        ("bytes=0-0,-1", None, 200, None, data),
        # a unit it does not understand: MUST ignore
        ("items=0-5", None, 200, None, data),
        ("0-5", None, 200, None, data),
        # §13.1.5 If-Range: only the current strong ETag lets the range through
        ("bytes=0-9", etag, 206, f"bytes 0-9/{size}", data[:10]),
        ("bytes=0-9", '"' + "0" * 64 + '"', 200, None, data),
        ("bytes=0-9", f"W/{etag}", 200, None, data),
        ("bytes=0-9", "Sat, 29 Oct 1994 19:43:31 GMT", 200, None, data),
    ]
    for range_, if_range, status, content_range, body in cases:
        headers = {key: value for key, value in (("Range", range_), ("If-Range", if_range)) if value is not None}
        response = get_audio(service, call_id, **headers)
        case = (range_[:40] if range_ else None, if_range)
        assert response.status_code == status, (case, response.status_code, response.text[:200])
        assert response.headers.get("content-range") == content_range, case
        assert response.headers["etag"] == etag and response.headers["accept-ranges"] == "bytes", case
        if body is not None:
            assert response.content == body, case
            assert response.headers["content-length"] == str(len(body)), case
        else:
            assert response.json()["error"]["code"] == "bad_range", case


async def _read_audio(app, call_id: str, key: str, range_: str | None) -> dict:
    """GET the audio through the app's ASGI interface, as a server would, counting the body and dropping it."""
    headers = [(b"host", b"hotline.test"), (b"authorization", f"Bearer {key}".encode())]
    if range_ is not None:
        headers.append((b"range", range_.encode()))
    path = f"/v1/calls/{call_id}/audio"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("hotline.test", 80),
        "state": {},
    }
    requested = False
    never = asyncio.Event()
    result = {"status": None, "bytes": 0, "largest": 0, "chunks": 0}

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # the client stays connected

    async def send(message):
        if message["type"] == "http.response.start":
            result["status"] = message["status"]
        elif message["type"] == "http.response.body":
            size = len(message.get("body", b""))
            result["bytes"] += size
            result["largest"] = max(result["largest"], size)
            result["chunks"] += 1

    await app(scope, receive, send)
    return result


def test_parallel_full_range_reads_stream_in_bounded_chunks(service):
    """The issue's case, scaled down: 10 parallel `Range: bytes=0-` reads of a 48 MB recording. Each answer
    arrives in pieces of at most READ_CHUNK (256 KiB), and all ten together allocate less than the recording itself
    (the old code read every range whole: 10 × 48 MB). Memory, unlike time, is safe to assert on a busy
    machine; tracemalloc counts every allocation Python makes, in every thread."""
    call_id, data = pushed(service, silent_wav(48e6 / 32000))
    size = len(data)
    app, key = service["client"].app, service["keys"]["operator"]

    async def ten(range_):
        return await asyncio.gather(*(_read_audio(app, call_id, key, range_) for _ in range(10)))

    for range_, status in (("bytes=0-", 206), (None, 200), (f"bytes=-{size * 2}", 206)):
        tracemalloc.start()
        try:
            results = asyncio.run(ten(range_))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        for result in results:
            assert result["status"] == status and result["bytes"] == size, (range_, result)
            assert result["largest"] <= READ_CHUNK, (range_, result)
        bound = 10 * 8 * READ_CHUNK
        assert peak < bound < size, f"{range_}: {peak / 2**20:.1f} MiB allocated for 10 reads of {size / 2**20:.0f} MiB"


# --- item 4: the duration limit ---------------------------------------------------------------------


def flac_of_silence(path: Path, seconds: float) -> Path:
    """Mono 8 kHz FLAC of digital silence: 3.9 hours of it is the issue's 2.7 MB."""
    total = int(seconds * 8000)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("flac", rate=8000, layout="mono")
        for start in range(0, total, 4608):
            block = np.zeros((1, min(4608, total - start)), dtype=np.int16)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def hours_of_silence(tmp_path_factory) -> dict[str, Path]:
    """The issue's file, and the same with a STREAMINFO that lies (60 s) or gives no length (0), as a recorder
    that streams would write."""
    folder = tmp_path_factory.mktemp("flac")
    issue = flac_of_silence(folder / "issue.flac", 3.9 * 3600)
    data = issue.read_bytes()
    assert 2_500_000 < len(data) < 2_900_000, "the issue's file: 2.7 MB for 3.9 hours"
    word = struct.unpack(">Q", data[18:26])[0]  # STREAMINFO: the 36-bit sample count ends this word
    files = {"as in the issue": issue}
    for name, announce in (("header claims 60 s", 60), ("header gives no length", 0)):
        patched = bytearray(data)
        patched[18:26] = struct.pack(">Q", (word & ~((1 << 36) - 1)) | announce * 8000)
        files[name] = folder / f"announce-{announce}.flac"
        files[name].write_bytes(bytes(patched))
    return files


def test_hours_of_silence_are_refused_at_push_whatever_the_header_says(local_service, hours_of_silence):
    client, key, services = local_service["client"], local_service["keys"]["telephony"], local_service["services"]
    messages = {
        "as in the issue": "recording is 14040 s long; the limit is 3600 s",
        "header claims 60 s": "recording is longer than the limit of 3600 s",
        "header gives no length": "recording is longer than the limit of 3600 s",
    }
    for name, path in hours_of_silence.items():
        call_id = f"long-{uuid.uuid4().hex[:8]}"
        response = push(client, key, path, call_id, content_type="audio/flac")
        assert response.status_code == 413, (name, response.status_code, response.text)
        assert response.json()["error"] == {"code": "audio_too_long", "message": messages[name]}, name
        assert client.get(f"/v1/calls/{call_id}", headers=auth(key)).status_code == 404
    assert not [job for job in services.queue.jobs if job[1].startswith("long-")], "nothing was queued"
    assert services.settings.max_duration_s == 3600, "the default limit: an hour"


def test_an_hour_long_call_is_accepted(local_service, tmp_path):
    call_id, _ = pushed(local_service, flac_of_silence(tmp_path / "hour.flac", 3600), content_type="audio/flac")
    key = local_service["keys"]["telephony"]
    assert local_service["client"].get(f"/v1/calls/{call_id}", headers=auth(key)).json()["status"] == "queued"


# --- item 11: the API accepts what the worker decodes -------------------------------------------------


def edge_recordings(folder: Path) -> dict[str, Path]:
    wav = write_audio(folder / "ok.wav", tone(2.0, 8000)[None], 8000)
    (folder / "cut.wav").write_bytes(wav.read_bytes()[: len(wav.read_bytes()) // 3])
    return {
        "10 samples at 1 Hz": write_audio(folder / "1hz.wav", np.full((1, 10), 0.3, dtype=np.float32), 1),
        "2 s at 4 kHz": write_audio(folder / "4k.wav", tone(2.0, 4000)[None], 4000),
        "2 s at 8 kHz": wav,
        "a third of a WAV": folder / "cut.wav",
        "50 ms": write_audio(folder / "blip.wav", tone(0.05, 8000)[None], 8000),
        "2 s of stereo mp3": write_audio(folder / "ok.mp3", np.stack([tone(2.0, 16000)] * 2), 16000, "libmp3lame"),
    }


def test_ten_samples_at_1_hz_are_refused_at_push(local_service, tmp_path):
    path = edge_recordings(tmp_path)["10 samples at 1 Hz"]
    response = push(local_service["client"], local_service["keys"]["telephony"], path, "one-hertz-1")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {
        "code": "bad_audio",
        "message": "sample rate 1 Hz; 8000 to 192000 Hz are supported",
    }


@pytest.mark.parametrize(
    "fmt",
    [
        struct.pack("<HHIIHH", 1, 1, 8000, 0, 0, 0),  # PCM with 0 bits per sample: FFmpeg opens no decoder
        struct.pack("<HHIIHHH", 0xFFFE, 1, 8000, 16000, 2, 16, 0),  # WAVE_FORMAT_EXTENSIBLE without its extension
    ],
    ids=["0 bits per sample", "extensible without extension"],
)
def test_a_wav_header_without_a_decoder_is_refused_not_a_server_error(local_service, fmt):
    data = b"\x00" * 32000
    chunks = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    wav = b"RIFF" + struct.pack("<I", len(chunks)) + chunks
    response = push(local_service["client"], local_service["keys"]["telephony"], wav, "no-decoder-1")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "bad_audio"


def test_what_the_push_accepts_the_worker_decodes(local_service, tmp_path):
    """Each recording pushed, then decoded as the worker decodes it (its options from the same settings):
    202 exactly when the worker's decoder succeeds, and a refusal carries the worker's own message."""
    from pipeline.factory import pipeline_options

    client, key = local_service["client"], local_service["keys"]["telephony"]
    worker_options = pipeline_options(local_service["services"].settings).decode
    for name, path in edge_recordings(tmp_path).items():
        response = push(client, key, path, f"edge-{uuid.uuid4().hex[:8]}")
        try:
            audio = load_audio(path, worker_options)
        except (AudioDecodeError, AudioTooLongError) as error:
            assert response.status_code in (413, 422), (name, response.text)
            assert response.json()["error"]["message"] == str(error), name
        else:
            assert response.status_code == 202, (name, response.text)
            assert audio.duration > 0


# --- item 10: the stored and served type ------------------------------------------------------------


def test_the_audio_is_served_with_the_type_of_its_container(service, tmp_path):
    services = service["services"]
    wav = write_audio(tmp_path / "call.wav", tone(1.0, 8000)[None], 8000)
    flac = write_audio(tmp_path / "call.flac", tone(1.0, 8000)[None], 8000, "flac")
    cases = [(wav, "audio/x-evil", "audio/wav"), (wav, "video/html", "audio/wav"), (flac, "audio/wav", "audio/flac")]
    for path, label, expected in cases:
        call_id, _ = pushed(service, path, content_type=label)
        assert services.repository.get(call_id).content_type == expected, label
        response = get_audio(service, call_id)
        assert response.status_code == 200 and response.headers["content-type"] == expected, label
        ranged = get_audio(service, call_id, Range="bytes=0-3")
        assert ranged.status_code == 206 and ranged.headers["content-type"] == expected, label


def test_rows_stored_before_keep_playing_with_a_known_type_only(service, played):
    call_id, _ = played
    services = service["services"]
    served = {
        "audio/x-wav": "audio/wav",
        "audio/mpeg": "audio/mpeg",
        "audio/x-evil": "application/octet-stream",
        "text/html": "application/octet-stream",
        None: "application/octet-stream",
    }
    try:
        for stored, expected in served.items():
            with services.repository.sessions.begin() as session:
                session.execute(update(Call).where(Call.id == call_id).values(content_type=stored))
            response = get_audio(service, call_id)
            assert response.status_code == 200 and response.headers["content-type"] == expected, stored
    finally:
        with services.repository.sessions.begin() as session:
            session.execute(update(Call).where(Call.id == call_id).values(content_type="audio/wav"))
