"""Live calls end to end: recorded calls played into GET /v1/live in real time, `hotline live-worker` processes
transcribing them; how long after each utterance ends its text reaches the client, and how long after the end frame
the final ticket does.

One API (uvicorn on a thread, the real app) and one `hotline live-worker` process (the real LiveTranscriber and
extractor, HOTLINE_LIVE__CONCURRENCY calls at a time) over Redis; `--concurrent N` plays N copies of each call at
once, as N lines would, to find how many one machine keeps at real time.

- utterance → text: the arrival of a turn event at the client, minus the moment the audio of the turn's end was sent
  (the call's start + turn.end / speed); "in the worker" is the part up to the event's publication (its `at`), the
  rest is Redis, the API and the socket. What the operator page would see comes through the same events stream.
- end → final: the arrival of the final event, minus the sending of the end frame.
- end → refined: the full-call pass after hang-up (HOTLINE_LIVE__REFINE), to its `refined` event in the call's
  events stream; a level of `--concurrent` starts once the previous level's passes are done, so they do not
  overlap with its calls (`--no-refine` leaves the pass out).

    .venv/bin/python bench/live_service.py [--calls samples/demo-call.wav ...] [--concurrent 1 2] [--speed 1.0]
        [--redis-url redis://127.0.0.1:6379/12] [--json bench/results/live_service.json]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import redis  # noqa: E402
import uvicorn  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from api.main import create_app  # noqa: E402
from asr.audio import load_audio  # noqa: E402
from models import CallMeta  # noqa: E402
from pipeline.meta import load_meta  # noqa: E402
from pipeline.service.live import wire  # noqa: E402
from pipeline.service.live.cli import telephone_samples  # noqa: E402
from pipeline.service.live.client import LivePush, frames_of  # noqa: E402
from pipeline.service.live.wire import AudioFormat  # noqa: E402
from pipeline.service.wiring import build_services  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOTLINE = Path(sys.executable).with_name("hotline")
FRAME_MS = 20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def play(url: str, key: str, meta: CallMeta, samples, channels: int, speed: float, out: dict) -> None:
    """One call played in; `out` gets each turn's latency and the end → final time."""
    fmt = AudioFormat("mulaw", 8000, channels, dict(meta.channel_map) if channels == 2 else {})
    latencies: list[float] = []
    worker_lag: list[float] = []  # the same, to the moment the worker published the turn
    from_sent: list[float] = []  # the same, from the moment the frame holding the turn's end was sent
    clock: dict[str, float] = {}
    sent_at: list[float] = []  # when each frame was handed to the socket (a busy server can make sends wait)

    def on_event(event: dict) -> None:
        now = time.time()
        if event["type"] == "turn":
            spoken = clock["start"] + event["data"]["end"] / speed
            latencies.append(now - spoken)
            worker_lag.append(event["at"] - spoken)
            frame = min(int(event["data"]["end"] * 1000 // FRAME_MS), len(sent_at) - 1)
            from_sent.append(now - sent_at[frame])
        elif event["type"] == "final":
            clock["final"] = now

    def frames():
        clock["start"] = time.time()
        for frame in frames_of(samples, fmt, FRAME_MS):
            sent_at.append(time.time())
            yield frame
        clock["end"] = time.time()

    result = LivePush(url, key, meta, fmt, on_event, final_timeout=600).play(frames(), FRAME_MS / 1000, speed)
    out.update(
        call_id=meta.call_id,
        end=clock["end"],
        turns=latencies,
        worker_lag=worker_lag,
        from_sent=from_sent,
        send_lag=clock["end"] - clock["start"] - len(samples) / 8000 / speed,
        end_to_final=clock["final"] - clock["end"],
        status=result.final.get("status"),
        duration=len(samples) / 8000,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (/proc/PID/stat): what the worker cost, whatever
    else the machine was running."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_refined(client: redis.Redis, runs: list[dict], timeout_s: float = 900.0) -> list[float]:
    """Seconds from each call's end frame to its `refined` event (the event's `at`), waiting for all of them."""
    took, deadline = [], time.time() + timeout_s
    for run in runs:
        key, last = wire.events_key(run["call_id"]), "0-0"
        while time.time() < deadline:
            found = client.xread({key: last}, block=1000, count=100)
            entries = found[0][1] if found else []
            refined = [fields for _, fields in entries if fields[b"type"] == b"refined"]
            if refined:
                took.append(float(refined[0][b"at"]) - run["end"])
                break
            last = entries[-1][0] if entries else last
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=Path, nargs="+", default=[ROOT / "samples" / "demo-call.wav"])
    parser.add_argument("--concurrent", type=int, nargs="+", default=[1])
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "live_service.json")
    parser.add_argument("--no-refine", action="store_true", help="no full-call pass after hang-up")
    args = parser.parse_args()
    console = Console()
    calls = []
    for path in args.calls:
        samples, channels = telephone_samples(load_audio(path))
        calls.append((load_meta(None, path), samples, channels))

    flush = redis.Redis.from_url(args.redis_url)
    flush.flushdb()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        env = {
            **os.environ,
            "HOTLINE_DATA_DIR": str(data),
            "HOTLINE_DATABASE_URL": f"sqlite:///{data / 'live.db'}",
            "HOTLINE_REDIS_URL": args.redis_url,
            "HOTLINE_LIVE__CONCURRENCY": str(max(args.concurrent) * len(calls)),
            "HOTLINE_LIVE__REFINE": "false" if args.no_refine else "true",
            "HOTLINE_MODEL_CACHE_DIR": str(Path.home() / ".local" / "share" / "hotline-intake" / "models"),
        }
        settings = Settings(
            _env_file=None, data_dir=data, database_url=env["HOTLINE_DATABASE_URL"], redis_url=args.redis_url
        )
        services = build_services(settings)
        _, key = services.keys.create("telephony", "bench-pbx")
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(services=services), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
            )
        )
        threading.Thread(target=server.run, daemon=True).start()
        log = data / "live-worker.log"
        with log.open("ab") as output:
            worker = subprocess.Popen([str(HOTLINE), "live-worker"], env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            while "taking calls" not in log.read_text(errors="replace"):  # models loaded and warmed
                if worker.poll() is not None:
                    sys.exit(f"the live worker exited: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.5)
            url = f"ws://127.0.0.1:{port}/v1/live"
            for lines in args.concurrent:
                runs, threads = [], []
                for copy in range(lines):
                    for meta, samples, channels in calls:
                        out: dict = {}
                        call_meta = CallMeta(**{**meta.__dict__, "call_id": f"{meta.call_id}-{lines}x-{copy}"})
                        thread = threading.Thread(
                            target=play, args=(url, key, call_meta, samples, channels, args.speed, out)
                        )
                        runs.append(out)
                        threads.append(thread)
                cpu_before = cpu_seconds(worker.pid)
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                cpu_live = cpu_seconds(worker.pid) - cpu_before
                refined = [] if args.no_refine else wait_refined(flush, runs)
                cpu_refine = cpu_seconds(worker.pid) - cpu_before - cpu_live
                turns = [latency for run in runs for latency in run.get("turns", [])]
                lags = [latency for run in runs for latency in run.get("worker_lag", [])]
                sent = [latency for run in runs for latency in run.get("from_sent", [])]
                finals = [run["end_to_final"] for run in runs if "end_to_final" in run]
                results.append(
                    {
                        "simultaneous_calls": lines * len(calls),
                        "turns": len(turns),
                        "utterance_to_text_s": {
                            "p50": round(statistics.median(turns), 2),
                            "p95": round(percentile(turns, 0.95), 2),
                            "max": round(max(turns), 2),
                        },
                        "sent_to_text_s": {
                            "p50": round(statistics.median(sent), 2),
                            "p95": round(percentile(sent, 0.95), 2),
                        },
                        "send_lag_s": round(max(run.get("send_lag", 0.0) for run in runs), 2),
                        "utterance_to_published_s": {
                            "p50": round(statistics.median(lags), 2),
                            "p95": round(percentile(lags, 0.95), 2),
                        },
                        "end_to_final_s": {"p50": round(statistics.median(finals), 2), "max": round(max(finals), 2)},
                        "end_to_refined_s": {"p50": round(statistics.median(refined), 2), "max": round(max(refined), 2)}
                        if refined
                        else None,
                        "audio_s": round(sum(run.get("duration", 0.0) for run in runs), 1),
                        "worker_cpu_s_per_audio_s": round(cpu_live / sum(run.get("duration", 0.0) for run in runs), 3),
                        "refine_cpu_s_per_audio_s": round(
                            cpu_refine / sum(run.get("duration", 0.0) for run in runs), 3
                        ),
                        "load_average": [round(value, 2) for value in os.getloadavg()],
                        "statuses": [run.get("status") for run in runs],
                    }
                )
        finally:
            worker.terminate()
            worker.wait(30)
            server.should_exit = True
            services.engine.dispose()
            flush.flushdb()
            flush.close()

    table = Table(title=f"live calls end to end (speed {args.speed}, {os.cpu_count()} cores)")
    columns = (
        "calls at once",
        "turns",
        "utterance→text p50 / p95 / max s",
        "of it in the worker p50 / p95 s",
        "frame sent→text p50 / p95 s",
        "sending behind by s",
    )
    for column in (*columns, "end→final p50 / max s", "end→refined p50 / max s", "worker CPU s / audio s live + pass"):
        table.add_column(column, justify="right")
    for row in results:
        text, final, lag = row["utterance_to_text_s"], row["end_to_final_s"], row["utterance_to_published_s"]
        table.add_row(
            str(row["simultaneous_calls"]),
            str(row["turns"]),
            f"{text['p50']} / {text['p95']} / {text['max']}",
            f"{lag['p50']} / {lag['p95']}",
            f"{row['sent_to_text_s']['p50']} / {row['sent_to_text_s']['p95']}",
            str(row["send_lag_s"]),
            f"{final['p50']} / {final['max']}",
            f"{row['end_to_refined_s']['p50']} / {row['end_to_refined_s']['max']}" if row["end_to_refined_s"] else "-",
            f"{row['worker_cpu_s_per_audio_s']} + {row['refine_cpu_s_per_audio_s']}",
        )
    console.print(table)
    console.print(f"load average {[round(value, 2) for value in os.getloadavg()]} on {os.cpu_count()} CPUs")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
