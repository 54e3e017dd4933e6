"""The service under load: ingest latency and throughput under concurrent pushes, and end-to-end calls per
hour with 1 and 2 workers.

Everything real and on loopback: `hotline serve` (uvicorn) with SQLite in a temporary folder (and, for
ingest, side by side with a fresh PostgreSQL database on 127.0.0.1:5432), Celery over
the machine's Redis (database 13, flushed before and after), `hotline worker` processes with the default
model. Each phase gets a fresh data folder, so no phase's queue leaks into the next one.

- ingest: `--pushes` pushes of the demo call (0.96 MB, 60 s, stereo µ-law), each under its own call id,
  from `--concurrency` client threads; latency is the whole POST (upload, checksum, probe, store, commit,
  enqueue) until the 202. No worker runs, so this is the API alone.
- end-to-end: W workers started and warmed up (one call each, models loaded), then `--calls` calls pushed
  at once; wall time from the first push until the last is done. Each worker gets cores/W CTranslate2
  threads, so 1 and 2 workers use the same CPU.

    .venv/bin/python bench/service.py [--pushes 200] [--concurrency 1,8,32] [--databases sqlite,postgresql]
                                      [--calls 6] [--workers 1,2]
                                      [--json bench/results/service.json]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import httpx  # noqa: E402
import redis  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "samples" / "demo-call.wav"
HOTLINE = Path(sys.executable).with_name("hotline")
REDIS_URL = "redis://127.0.0.1:6379/13"
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MODEL_CACHE = Path.home() / ".local" / "share" / "hotline-intake" / "models"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_env(data_dir: Path, threads: int = 0, database_url: str | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "HOTLINE_DATA_DIR": str(data_dir),
        "HOTLINE_DATABASE_URL": database_url or f"sqlite:///{data_dir / 'hotline.db'}",
        "HOTLINE_REDIS_URL": REDIS_URL,
        "HOTLINE_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "HOTLINE_CPU_THREADS": str(threads),
    }


def flush_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


@contextmanager
def process(argv: list[str], env: dict[str, str], log: Path):
    with log.open("ab") as output:
        child = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in `workdir`, or a new PostgreSQL database (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'hotline.db'}"
        return
    from sqlalchemy import create_engine, text

    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def service(workdir: Path, workers: int = 0, cores: int = 2, database: str = "sqlite"):
    """A fresh API (and `workers` workers) on a data folder and database of its own; yields (base url, key)."""
    with fresh_database(database, workdir) as url, _service(workdir, workers, cores, url) as running:
        yield running


@contextmanager
def _service(workdir: Path, workers: int, cores: int, database_url: str):
    data_dir = workdir / "data"
    flush_redis()
    env = service_env(data_dir, threads=max(1, cores // max(1, workers)), database_url=database_url)
    key = (
        subprocess.run(
            [str(HOTLINE), "keys", "create", "--role", "admin"], env=env, capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        stack.enter_context(process([str(HOTLINE), "serve", "--port", str(port)], env, workdir / "serve.log"))
        for index in range(workers):
            stack.enter_context(
                process([str(HOTLINE), "worker", "--name", f"bench{index}@%h"], env, workdir / f"worker{index}.log")
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start: {(workdir / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, key
    flush_redis()


def push(client: httpx.Client, base: str, key: str, call_id: str, audio: bytes, priority: str = "live") -> float:
    started = time.perf_counter()
    response = client.post(
        f"{base}/v1/calls",
        headers={"Authorization": f"Bearer {key}"},
        data={"call_id": call_id, "channel_map": '{"0": "agent", "1": "caller"}', "priority": priority},
        files={"recording": ("call.wav", audio, "audio/wav")},
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 202:
        raise RuntimeError(f"push {call_id}: {response.status_code} {response.text[:200]}")
    return elapsed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench_ingest(workdir: Path, pushes: int, concurrency: int, audio: bytes, database: str) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    with service(workdir, database=database) as (base, key):
        with httpx.Client() as warm:  # first request pays for imports and the first connection
            push(warm, base, key, "warm-up", audio)
        ids = iter(range(pushes))

        def client_thread() -> None:
            with httpx.Client() as client:
                while True:
                    with lock:
                        index = next(ids, None)
                    if index is None:
                        return
                    elapsed = push(client, base, key, f"ingest-{concurrency}-{index}", audio)
                    with lock:
                        latencies.append(elapsed)

        started = time.perf_counter()
        threads = [threading.Thread(target=client_thread) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    return {
        "database": database,
        "concurrency": concurrency,
        "pushes": pushes,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "pushes_per_s": round(pushes / wall, 1),
        "mb_per_s": round(pushes * len(audio) / wall / 1e6, 1),
    }


def wait_done(client: httpx.Client, base: str, key: str, call_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(call_ids)
    while pending:
        for call_id in list(pending):
            body = client.get(f"{base}/v1/calls/{call_id}", headers={"Authorization": f"Bearer {key}"}).json()
            if body["status"] == "failed":
                raise RuntimeError(f"{call_id} failed: {body['error']}")
            if body["status"] == "done":
                pending.discard(call_id)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} calls not done after {timeout} s")
        time.sleep(0.5)


def bench_end_to_end(workdir: Path, workers: int, calls: int, cores: int, audio: bytes) -> dict:
    with service(workdir, workers=workers, cores=cores) as (base, key), httpx.Client() as client:
        warm_ids = [f"warm-{index}" for index in range(workers)]
        # the same recording under each id: stored once (content-addressed), processed per call
        for call_id in warm_ids:
            push(client, base, key, call_id, audio)
        wait_done(client, base, key, warm_ids, timeout=900)
        call_ids = [f"e2e-{index}" for index in range(calls)]
        started = time.perf_counter()
        for call_id in call_ids:
            push(client, base, key, call_id, audio)
        wait_done(client, base, key, call_ids, timeout=3600)
        wall = time.perf_counter() - started
        rtf = []
        for call_id in call_ids:
            body = client.get(f"{base}/v1/calls/{call_id}", headers={"Authorization": f"Bearer {key}"}).json()
            processing = sum(value for value in body["timings"].values() if isinstance(value, int | float))
            rtf.append(processing / body["audio_duration_s"])
    return {
        "workers": workers,
        "threads_per_worker": max(1, cores // workers),
        "calls": calls,
        "wall_s": round(wall, 1),
        "calls_per_hour": round(calls / wall * 3600),
        "audio_hours_per_hour": round(calls * 60 / wall, 2),
        "mean_rtf_per_call": round(statistics.fmean(rtf), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=200)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--databases", default="sqlite,postgresql", help="for the ingest runs")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="CPU threads shared by the workers")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "service.json")
    args = parser.parse_args()
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        sys.exit("bench/service.py needs Redis on 127.0.0.1:6379")
    audio = DEMO.read_bytes()
    console = Console()
    results: dict = {"ingest": [], "end_to_end": [], "cores": args.cores}
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        for concurrency in [int(value) for value in args.concurrency.split(",") if value]:
            for database in [value for value in args.databases.split(",") if value]:  # side by side
                workdir = Path(tmp) / f"ingest-{database}-{concurrency}"
                workdir.mkdir()
                results["ingest"].append(bench_ingest(workdir, args.pushes, concurrency, audio, database))
                console.print(results["ingest"][-1])
        for workers in [int(value) for value in args.workers.split(",") if value]:
            workdir = Path(tmp) / f"workers-{workers}"
            workdir.mkdir()
            results["end_to_end"].append(bench_end_to_end(workdir, workers, args.calls, args.cores, audio))
            console.print(results["end_to_end"][-1])
        shutil.rmtree(tmp, ignore_errors=True)

    ingest = Table(title=f"ingest: {args.pushes} pushes of the demo call ({len(audio) / 1e6:.2f} MB) on loopback")
    for column in ("database", "clients", "p50 ms", "p99 ms", "mean ms", "pushes/s", "MB/s"):
        ingest.add_column(column, justify="right")
    for row in results["ingest"]:
        names = ("database", "concurrency", "p50_ms", "p99_ms", "mean_ms", "pushes_per_s", "mb_per_s")
        ingest.add_row(*(str(row[name]) for name in names))
    console.print(ingest)
    e2e = Table(title=f"end to end: {args.calls} one-minute calls pushed at once, {args.cores} CPU threads in all")
    for column in ("workers", "threads each", "wall s", "calls/hour", "audio h/h", "RTF per call", "vs 1 worker"):
        e2e.add_column(column, justify="right")
    base_rate = results["end_to_end"][0]["calls_per_hour"] if results["end_to_end"] else 1
    for row in results["end_to_end"]:
        e2e.add_row(
            *(str(row[name]) for name in ("workers", "threads_per_worker", "wall_s", "calls_per_hour")),
            str(row["audio_hours_per_hour"]),
            str(row["mean_rtf_per_call"]),
            f"{row['calls_per_hour'] / base_rate:.2f}",
        )
    console.print(e2e)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"→ {args.json}")


if __name__ == "__main__":
    main()
