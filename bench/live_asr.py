"""Live assist, one call's live transcription: calls played through pipeline.live.LiveTranscriber.

Each call (the demo call, then the shared calls) is streamed as a telephony system would send it: int16 at
8 kHz, stereo calls with their channel map, mono calls without one, in chunks of --chunk-ms, at --speed
times real time (0: as fast as the machine goes). Per call and overall it reports:

- latency from the end of an utterance (its last speech sample fed, in audio time) to its turn being
  returned: the segmenter's closing delay (end_silence_ms plus the rest of the chunk) plus the processing
  time of the feed() call that closed it; at --speed 1 also the wall-clock version, which adds any wait
  behind the decoding of earlier utterances;
- the real-time factor (processing time / call length) and, from it, how many calls one machine like this
  one keeps at real time (1 / RTF; latency grows as that load is approached);
- the live transcript's CER against the batch transcript of the same call (run_pipeline, same engines) and,
  for both, against the gold turns.

    .venv/bin/python bench/live_asr.py --limit 4 --json bench/results/live_asr.json
    OMP_NUM_THREADS=1 .venv/bin/python bench/live_asr.py --speed 1 --limit 2
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
# run as `python bench/live_asr.py`, this folder would come first on sys.path and shadow the `asr` package
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import av  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pipeline.evaluation import GoldCall, char_errors, load_gold  # noqa: E402
from pipeline.factory import build_engines, pipeline_options  # noqa: E402
from pipeline.live import LiveFormat, LiveOptions, LiveTranscriber  # noqa: E402
from pipeline.run import run_pipeline  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT.parent / "shared" / "data" / "calls"
RATE = 8000
out = Console(width=150)


def stream_pcm(path: Path) -> np.ndarray:
    """The recording as the telephony system streams it live: int16 at 8 kHz, (samples, channels)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout=stream.layout.name, rate=RATE)
        blocks = [
            frame.to_ndarray().reshape(-1, stream.channels)
            for decoded in container.decode(stream)
            for frame in [*resampler.resample(decoded)]
        ]
        blocks += [frame.to_ndarray().reshape(-1, stream.channels) for frame in resampler.resample(None)]
    return np.concatenate(blocks)


def play(engines, options, live: LiveOptions, call: GoldCall, pcm: np.ndarray, chunk_ms: int, speed: float):
    stereo = pcm.shape[1] == 2
    fmt = LiveFormat(RATE, pcm.shape[1], {0: "operator", 1: "caller"} if stereo else {})
    transcriber = LiveTranscriber(engines, fmt, call.meta, options=options, live=live)
    chunk = RATE * chunk_ms // 1000
    latencies, wall_latencies, busy = [], [], 0.0
    started = time.perf_counter()
    for offset in range(0, len(pcm) + chunk, chunk):
        piece = pcm[offset : offset + chunk]
        if speed > 0:  # the chunk arrives once its last sample has been spoken
            time.sleep(max(0.0, started + (offset + len(piece)) / RATE / speed - time.perf_counter()))
        seen = len(transcriber.utterances)
        t0 = time.perf_counter()
        if len(piece):
            transcriber.feed(piece)
        else:
            transcriber.finish()
        t1 = time.perf_counter()
        busy += t1 - t0
        for utterance in transcriber.utterances[seen:]:
            latencies.append((utterance.closed_at - utterance.speech_end) / RATE + (t1 - t0))
            if speed > 0:
                wall_latencies.append(t1 - (started + utterance.speech_end / RATE / speed))
    return transcriber.transcript(), latencies, wall_latencies, busy


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=Path, default=CALLS, help="folder of gold calls (shared/data/calls)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N shared calls")
    parser.add_argument("--speed", type=float, default=0.0, help="1: real time; 0: as fast as possible")
    parser.add_argument("--chunk-ms", type=int, default=20)
    parser.add_argument("--end-silence-ms", type=int, default=None)
    parser.add_argument("--prompt-previous", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "live_asr.json")
    args = parser.parse_args()

    settings = Settings()
    engines, options = build_engines(settings), pipeline_options(settings)
    live = LiveOptions(prompt_previous=args.prompt_previous)
    if args.end_silence_ms is not None:
        live = replace(live, segmentation=replace(live.segmentation, end_silence_ms=args.end_silence_ms))
    calls = [c for c in load_gold(ROOT / "samples") if c.audio.name == "demo-call.wav"]
    if args.calls.is_dir():
        shared = load_gold(args.calls)
        calls += shared[: args.limit] if args.limit is not None else shared
    else:
        out.print(f"[yellow]{args.calls} is absent: the demo call only[/yellow]")

    rows, all_latencies, totals = [], [], {"audio_s": 0.0, "busy_s": 0.0, "batch_s": 0.0}
    errors = {"live_batch": [0, 0], "live_gold": [0, 0], "batch_gold": [0, 0]}
    for call in calls:
        if call.layout == "stereo":  # channel 0 agent, channel 1 caller (samples/README.md, calls/README.md)
            call = replace(call, meta=replace(call.meta, channel_map={"0": "agent", "1": "caller"}))
        pcm = stream_pcm(call.audio)
        t0 = time.perf_counter()
        batch = run_pipeline(call.audio, call.meta, engines, options)
        batch_s = time.perf_counter() - t0
        transcript, latencies, wall, busy = play(engines, options, live, call, pcm, args.chunk_ms, args.speed)
        duration = len(pcm) / RATE
        pairs = {
            "live_batch": char_errors(batch.text, transcript.text),
            "live_gold": char_errors(call.text, transcript.text),
            "batch_gold": char_errors(call.text, batch.text),
        }
        for name, (wrong, length) in pairs.items():
            errors[name][0] += wrong
            errors[name][1] += length
        totals["audio_s"] += duration
        totals["busy_s"] += busy
        totals["batch_s"] += batch_s
        all_latencies += latencies
        row = {
            "call": call.call_id,
            "format": call.format,
            "duration_s": round(duration, 1),
            "utterances": len(latencies),
            "turns": len(transcript.turns),
            "roles": sorted({turn.role for turn in transcript.turns}),
            "latency_p50_s": percentile(latencies, 50),
            "latency_p95_s": percentile(latencies, 95),
            "wall_latency_p95_s": percentile(wall, 95),
            "rtf": round(busy / duration, 3),
            "batch_rtf": round(batch_s / duration, 3),
            **{f"cer_{name}": round(w / n, 4) if n else None for name, (w, n) in pairs.items()},
        }
        rows.append(row)
        out.print(f"{call.call_id}: {json.dumps(row, ensure_ascii=False)}")

    rtf = totals["busy_s"] / totals["audio_s"]
    overall = {
        "calls": len(rows),
        "audio_s": round(totals["audio_s"], 1),
        "latency_p50_s": percentile(all_latencies, 50),
        "latency_p95_s": percentile(all_latencies, 95),
        "rtf": round(rtf, 3),
        "batch_rtf": round(totals["batch_s"] / totals["audio_s"], 3),
        "simultaneous_calls": math.floor(1 / rtf) if rtf > 0 else None,
        **{f"cer_{name}": round(w / n, 4) if n else None for name, (w, n) in errors.items()},
        "load_average": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "chunk_ms": args.chunk_ms,
        "speed": args.speed,
        "end_silence_ms": live.segmentation.end_silence_ms,
        "prompt_previous": live.prompt_previous,
        "median_utterances_per_call": statistics.median([r["utterances"] for r in rows]) if rows else 0,
    }
    table = Table(
        title=f"Live transcription, {len(rows)} calls, chunks of {args.chunk_ms} ms, speed {args.speed or 'max'}"
    )
    columns = (
        "call",
        "format",
        "s",
        "utt",
        "p50 s",
        "p95 s",
        "RTF",
        "batch RTF",
        "CER live/batch",
        "CER live/gold",
        "CER batch/gold",
    )
    for column in columns:
        table.add_column(column, justify="right")

    def cells(row: dict, name: str) -> list[str]:
        def fmt(value, digits=2):
            return "-" if value is None else f"{value:.{digits}f}"

        return [
            name,
            row.get("format", ""),
            f"{row.get('duration_s', row.get('audio_s'))}",
            f"{row.get('utterances', '')}",
            fmt(row["latency_p50_s"]),
            fmt(row["latency_p95_s"]),
            fmt(row["rtf"], 3),
            fmt(row["batch_rtf"], 3),
            fmt(row["cer_live_batch"], 3),
            fmt(row["cer_live_gold"], 3),
            fmt(row["cer_batch_gold"], 3),
        ]

    for row in rows:
        table.add_row(*cells(row, row["call"]))
    table.add_row(*cells(overall, "all"))
    out.print(table)
    out.print(
        f"simultaneous live calls at real time on this machine ({os.cpu_count()} CPUs, "
        f"load {overall['load_average']}): {overall['simultaneous_calls']} (1 / RTF)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"overall": overall, "calls": rows}, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
