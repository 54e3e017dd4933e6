"""A telephony client flooding one live call: how fast its audio goes into Redis, and how much Redis grows, with the
server's pacing (HOTLINE_LIVE__MAX_LEAD_S) effectively off and at a given lead, side by side in one run.

The client sends `--audio-s` of 16 kHz stereo PCM16 in frames just under the 16000-byte limit (0.25 s each) as fast
as the socket takes them, with no keep-alive pings of its own, reading acknowledgements on a thread, through the real
app on uvicorn (its WebSocket keep-alive at the defaults: a ping every 20 s, 20 s for the pong); no live worker runs,
so nothing is consumed. "acknowledged s" is the audio the server took, "wall s" the time to its last acknowledgement,
"Redis +MB" `used_memory` after minus before.

    .venv/bin/python bench/live_flood.py [--audio-s 80] [--lead-s 20] [--redis-url redis://127.0.0.1:6379/9]
        [--json bench/results/live_flood.json]
"""

import argparse
import contextlib
import json
import os
import socket
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
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from api.main import create_app  # noqa: E402
from pipeline.service.wiring import build_services  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RATE, CHANNELS = 16000, 2
FRAME_SAMPLES = 3999  # per channel: 4 + 3999 * 4 bytes, just under the default frame limit
OFF_S = 1e9
"""A lead no flood reaches: pacing off, as before it existed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def flood(url: str, key: str, call_id: str, frames: int) -> tuple[int, float, str]:
    """(frames acknowledged, seconds from the first frame sent to the last acknowledged, how the connection ended)."""
    payload = b"\x01\x02" * (FRAME_SAMPLES * CHANNELS)
    start = {
        "type": "start",
        "call_id": call_id,
        "meta": {"agent_id": "A1024"},
        "format": {"encoding": "pcm16", "sample_rate": RATE, "channels": CHANNELS, "channel_map": {"1": "caller"}},
    }
    # a flooding client sends no keep-alive pings of its own (they would wait behind its frames)
    headers = {"Authorization": f"Bearer {key}"}
    with connect(url, additional_headers=headers, open_timeout=10, ping_interval=None) as ws:
        ws.send(json.dumps(start))
        assert json.loads(ws.recv(timeout=10))["type"] == "started"
        acked, last_at, ended = [0], [0.0], ["all acknowledged"]

        def read_acks():
            try:
                while acked[0] < frames:
                    acked[0] = json.loads(ws.recv(timeout=120)).get("seq", acked[0])
                    last_at[0] = time.monotonic()
            except ConnectionClosed as closed:
                ended[0] = (
                    f"closed {closed.rcvd.code if closed.rcvd else '?'} {closed.rcvd.reason if closed.rcvd else ''}"
                )

        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        began = time.monotonic()
        with contextlib.suppress(ConnectionClosed):
            for seq in range(1, frames + 1):
                ws.send(seq.to_bytes(4, "big") + payload)
        reader.join(frames * FRAME_SAMPLES / RATE + 120)
        return acked[0], last_at[0] - began, ended[0]


def run(args, lead_s: float, client: redis.Redis) -> dict:
    client.flushdb()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        settings = Settings(
            _env_file=None,
            data_dir=data,
            database_url=f"sqlite:///{data / 'flood.db'}",
            redis_url=args.redis_url,
            live={"max_lead_s": lead_s},
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
        try:
            while not server.started:
                time.sleep(0.05)
            before = client.info("memory")["used_memory"]
            frames = round(args.audio_s * RATE / FRAME_SAMPLES)
            call_id = "flood-off" if lead_s >= OFF_S else f"flood-{lead_s:g}"
            acked, wall, ended = flood(f"ws://127.0.0.1:{port}/v1/live", key, call_id, frames)
            grown = client.info("memory")["used_memory"] - before
        finally:
            server.should_exit = True
            services.engine.dispose()
    audio_s = acked * FRAME_SAMPLES / RATE
    return {
        "max_lead_s": None if lead_s >= OFF_S else lead_s,
        "sent_s": round(frames * FRAME_SAMPLES / RATE, 1),
        "acked_s": round(audio_s, 1),
        "wall_s": round(wall, 1),
        "x_real_time": round(audio_s / wall, 1),
        "redis_mb": round(grown / 1e6, 1),
        "ended": ended,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audio-s", type=float, default=80.0)
    parser.add_argument("--lead-s", type=float, default=20.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "live_flood.json")
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    try:
        results = [run(args, OFF_S, client), run(args, args.lead_s, client)]
    finally:
        client.flushdb()
        client.close()
    table = Table(title=f"one live call flooded ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    names = ("sent_s", "acked_s", "wall_s", "x_real_time", "redis_mb", "ended")
    for column in ("max lead s", "audio sent s", "acknowledged s", "wall s", "x real time", "Redis +MB", "connection"):
        table.add_column(column, justify="right")
    for row in results:
        lead = "off" if row["max_lead_s"] is None else f"{row['max_lead_s']:g}"
        table.add_row(lead, *(str(row[name]) for name in names))
    Console().print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
