"""Memory of the API while it plays a long recording back: parallel HTTP Range reads against a real server.

A real uvicorn serving `api.main:create_app` in a subprocess, its services built as `hotline serve` builds them
(SQLite and the local store in a temporary folder) except the job queue, which runs nothing: no model loads,
so the server's memory is the API's alone. A 120 MB recording (16 kHz stereo PCM WAV, 31 minutes of low noise)
is pushed once through POST /v1/calls; then each scenario runs N parallel GET /v1/calls/{id}/audio, each
client streaming the body and counting it, while a thread samples the server's VmRSS from /proc/<pid>/status
every 5 ms. Before each scenario the server's VmHWM is reset (`clear_refs` 5), so its VmHWM afterwards is the
scenario's own peak. Growth = max(sampled peak, VmHWM) − RSS before the scenario.

    .venv/bin/python bench/audio_memory.py [--size-mb 120] [--code DIR] [--json bench/results/audio_memory.json]

`--code DIR`: the source tree the server runs (default: this one), e.g. an export of an older commit to
measure it the same way (`git archive main | tar -x -C /tmp/main-code`).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AGENT = "A-BENCH"
LIMIT_MB = 50.0
"""The issue's bound: 10 parallel full-range reads of a 120 MB recording keep the server under +50 MB."""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_recording(path: Path, size_bytes: int) -> int:
    """A 16 kHz stereo 16-bit WAV of low noise, about `size_bytes` long (64 kB a second); returns its size."""
    rate, channels = 16000, 2
    block = np.random.default_rng(0).integers(-64, 64, size=rate * channels, dtype=np.int16).tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        for _ in range(max(1, (size_bytes - 44) // len(block))):
            out.writeframes(block)
    return path.stat().st_size


def serve(data_dir: Path, port: int) -> None:
    """The server process: services as `hotline serve` builds them, with a queue that runs nothing."""
    import uvicorn

    from api.main import create_app
    from pipeline.service.keys import KeyStore
    from pipeline.service.wiring import Services, build_store, open_repository
    from pipeline.settings import Settings

    class IdleQueue:
        def enqueue(self, phase: str, call_id: str, priority: str) -> None:
            pass

        def enqueue_webhook(self, delivery_id: str) -> None:
            pass

        def depth(self) -> int:
            return 0

    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'hotline.db'}",
        redis_url=None,
        max_upload_mb=400,
    )
    engine, repository = open_repository(settings)
    keys = {}
    for role in ("telephony", "operator"):
        # the operator is the agent of the pushed call: an operator's key sees its own agent's calls
        keys[role] = KeyStore(repository.sessions).create(
            role, f"bench-{role}", agent_id=AGENT if role == "operator" else None
        )[1]
    (data_dir / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
    services = Services(settings, engine, repository, build_store(settings), IdleQueue(), None)
    uvicorn.run(create_app(services=services), host="127.0.0.1", port=port, log_level="warning")


def status_kb(pid: int) -> dict[str, int]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {name: int(re.search(rf"^{name}:\s+(\d+) kB", text, re.M).group(1)) for name in ("VmRSS", "VmHWM")}


def reset_hwm(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def read_all(base: str, key: str, call_id: str, range_: str | None) -> tuple[int, int]:
    headers = {"Authorization": f"Bearer {key}", **({"Range": range_} if range_ else {})}
    received = 0
    with (
        httpx.Client(timeout=120) as client,
        client.stream("GET", f"{base}/v1/calls/{call_id}/audio", headers=headers) as response,
    ):
        for chunk in response.iter_raw():
            received += len(chunk)
    return response.status_code, received


def scenario(pid: int, base: str, key: str, call_id: str, size: int, readers: int, range_: str | None) -> dict:
    time.sleep(1.0)  # let the last scenario's buffers go
    before = status_kb(pid)["VmRSS"]
    hwm_reset = reset_hwm(pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, status_kb(pid)["VmRSS"])
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def reader() -> None:
        outcome = read_all(base, key, call_id, range_)
        with lock:
            results.append(outcome)

    started = time.perf_counter()
    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = status_kb(pid)
    expected = 200 if range_ is None else 206
    if any(outcome != (expected, size) for outcome in results):
        raise RuntimeError(f"{readers} × {range_}: unexpected answers {results}")
    top = max(peak, after["VmHWM"] if hwm_reset else peak)
    return {
        "readers": readers,
        "range": range_ or "(none)",
        "status": expected,
        "rss_before_mb": round(before / 1024, 1),
        "rss_peak_sampled_mb": round(peak / 1024, 1),
        "hwm_mb": round(after["VmHWM"] / 1024, 1) if hwm_reset else None,
        "growth_mb": round((top - before) / 1024, 1),
        "served_mb": round(readers * size / 1e6, 1),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=120.0)
    parser.add_argument("--code", type=Path, default=ROOT, help="source tree the server runs")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "audio_memory.json")
    parser.add_argument("serve", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "serve":
        serve(args.data, args.port)
        return
    console = Console(width=120)
    # memory in MiB (kB from /proc / 1024), sizes of recordings and bodies in MB
    results: dict = {"code": str(args.code.resolve()), "limit_mb": LIMIT_MB, "scenarios": []}
    with tempfile.TemporaryDirectory(prefix="hotline-audio-memory-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        data_dir.mkdir()
        size = write_recording(workdir / "long.wav", int(args.size_mb * 1e6))
        results["recording_mb"] = round(size / 1e6, 1)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
        argv = [sys.executable, str(Path(__file__).resolve()), "serve", "--data", str(data_dir), "--port", str(port)]
        with (workdir / "serve.log").open("wb") as log:
            server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=args.code)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start: {(workdir / 'serve.log').read_text()[-2000:]}")
                time.sleep(0.2)
            keys = json.loads((data_dir / "keys.json").read_text(encoding="utf-8"))
            with (workdir / "long.wav").open("rb") as recording:
                pushed = httpx.post(
                    f"{base}/v1/calls",
                    headers={"Authorization": f"Bearer {keys['telephony']}"},
                    data={"call_id": "long-1", "agent_id": AGENT},
                    files={"recording": ("long.wav", recording, "audio/wav")},
                    timeout=300,
                )
            if pushed.status_code != 202:
                raise RuntimeError(f"push: {pushed.status_code} {pushed.text[:300]}")
            read_all(base, keys["operator"], "long-1", "bytes=0-1023")  # first request: imports, connection
            results["rss_after_push_mb"] = round(status_kb(server.pid)["VmRSS"] / 1024, 1)
            for readers, range_ in ((1, "bytes=0-"), (3, "bytes=0-"), (10, "bytes=0-"), (10, None), (10, "suffix")):
                wanted = f"bytes=-{2 * size}" if range_ == "suffix" else range_
                row = scenario(server.pid, base, keys["operator"], "long-1", size, readers, wanted)
                results["scenarios"].append(row)
                console.print(row)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)

    table = Table(
        title=f"API memory (MiB): N parallel reads of a {results['recording_mb']} MB recording "
        f"(server RSS after the push: {results['rss_after_push_mb']} MiB)"
    )
    for column in ("readers", "Range", "status", "RSS before", "peak RSS", "VmHWM", "growth", "s"):
        table.add_column(column, justify="right")
    for row in results["scenarios"]:
        table.add_row(
            *(
                str(row[name])
                for name in ("readers", "range", "status", "rss_before_mb", "rss_peak_sampled_mb", "hwm_mb")
            ),
            str(row["growth_mb"]),
            str(row["seconds"]),
        )
    console.print(table)
    ten = [row for row in results["scenarios"] if row["readers"] == 10]
    results["max_growth_10_mb"] = max(row["growth_mb"] for row in ten)
    last_peak = max(row["rss_peak_sampled_mb"] for row in results["scenarios"])
    results["growth_since_push_mb"] = round(last_peak - results["rss_after_push_mb"], 1)
    verdict = "under" if results["max_growth_10_mb"] < LIMIT_MB else "OVER"
    growth = results["max_growth_10_mb"]
    console.print(f"10 parallel reads: +{growth} MiB at most, {verdict} the {LIMIT_MB:.0f} MB bound")
    console.print(f"all scenarios together, from the RSS after the push: +{results['growth_since_push_mb']} MiB")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"→ {args.json}")


if __name__ == "__main__":
    main()
