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
import io
import json
import math
import os
import sys
import time
import wave
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
    latencies, wall_latencies, busy, cpu = [], [], 0.0, []
    started = time.perf_counter()
    for offset in range(0, len(pcm) + chunk, chunk):
        piece = pcm[offset : offset + chunk]
        if speed > 0:  # the chunk arrives once its last sample has been spoken
            time.sleep(max(0.0, started + (offset + len(piece)) / RATE / speed - time.perf_counter()))
        seen = len(transcriber.utterances)
        t0, c0 = time.perf_counter(), time.process_time()
        if len(piece):
            transcriber.feed(piece)
        else:
            transcriber.finish()
        t1 = time.perf_counter()
        busy += t1 - t0
        for utterance in transcriber.utterances[seen:]:
            latencies.append((utterance.closed_at - utterance.speech_end) / RATE + (t1 - t0))
            # CPU seconds of all the process's threads for the feed that closed it: what it costs whatever the
            # machine's load (wall time on a shared machine is mostly waiting for a core)
            cpu.append(time.process_time() - c0)
            if speed > 0:
                wall_latencies.append(t1 - (started + utterance.speech_end / RATE / speed))
    return transcriber.transcript(), latencies, wall_latencies, busy, cpu


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


VARIANT_HELP = """decode variants compared side by side, interleaved per call: `full` (an utterance decoded as batch
decodes a window: beam 5, temperature fallback, loop/gap/number re-decodes), `b1` (lean: one greedy decode), `b2`,
`b5` (lean with that beam); `wS` the lean encoder on the utterance, at least S seconds (`b1w5`); `@MS` sets
end_silence_ms (`b1w5@400`)"""


def variant_options(name: str, base: LiveOptions) -> LiveOptions:
    decode, _, silence = name.partition("@")
    beam, _, window = decode.partition("w")
    live = replace(
        base,
        lean=beam != "full",
        beam_size=int(beam[1:]) if beam.startswith("b") else 5,
        encoder_min_s=float(window) if window else None,
    )
    if silence:
        live = replace(live, segmentation=replace(live.segmentation, end_silence_ms=int(silence)))
    return live


def wav_bytes(pcm: np.ndarray) -> bytes:
    """The recording the live worker assembles from the stream (int16 8 kHz WAV): what the full-call pass reads."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.ascontiguousarray(pcm).tobytes())
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=Path, default=CALLS, help="folder of gold calls (shared/data/calls)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N shared calls")
    parser.add_argument("--only", nargs="+", default=None, help="only these shared call ids")
    parser.add_argument("--speed", type=float, default=0.0, help="1: real time; 0: as fast as possible")
    parser.add_argument("--chunk-ms", type=int, default=20)
    parser.add_argument("--variants", nargs="+", default=["b1"], help=VARIANT_HELP)
    parser.add_argument("--refined", action="store_true", help="also the full-call pass over the assembled stream")
    parser.add_argument("--prompt-previous", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "live_asr.json")
    args = parser.parse_args()

    settings = Settings()
    engines, options = build_engines(settings), pipeline_options(settings)
    base = LiveOptions(prompt_previous=args.prompt_previous)
    variants = {name: variant_options(name, base) for name in args.variants}
    calls = [c for c in load_gold(ROOT / "samples") if c.audio.name == "demo-call.wav"]
    if args.calls.is_dir():
        shared = load_gold(args.calls)
        if args.only:
            shared = [c for c in shared if c.call_id in args.only]
        calls += shared[: args.limit] if args.limit is not None else shared
    else:
        out.print(f"[yellow]{args.calls} is absent: the demo call only[/yellow]")

    rows = []
    pooled = {name: {"latencies": [], "cpu": [], "audio_s": 0.0, "busy_s": 0.0, "errors": {}} for name in variants}
    batch_errors, batch_s, refined_errors, refined_s = [0, 0], 0.0, {"gold": [0, 0], "batch": [0, 0]}, 0.0
    for call in calls:
        if call.layout == "stereo":  # channel 0 agent, channel 1 caller (samples/README.md, calls/README.md)
            call = replace(call, meta=replace(call.meta, channel_map={"0": "agent", "1": "caller"}))
        pcm = stream_pcm(call.audio)
        duration = len(pcm) / RATE
        t0 = time.perf_counter()
        batch = run_pipeline(call.audio, call.meta, engines, options)
        batch_s += time.perf_counter() - t0
        _add(batch_errors, char_errors(call.text, batch.text))
        row = {"call": call.call_id, "format": call.format, "duration_s": round(duration, 1)}
        row["cer_batch_gold"] = _rate(char_errors(call.text, batch.text))
        if args.refined:
            t0 = time.perf_counter()
            refined = run_pipeline(wav_bytes(pcm), call.meta, engines, options)
            refined_s += time.perf_counter() - t0
            _add(refined_errors["gold"], char_errors(call.text, refined.text))
            _add(refined_errors["batch"], char_errors(batch.text, refined.text))
            row["cer_refined_gold"] = _rate(char_errors(call.text, refined.text))
        for name, live in variants.items():
            transcript, latencies, wall, busy, cpu = play(engines, options, live, call, pcm, args.chunk_ms, args.speed)
            pairs = {
                "live_batch": char_errors(batch.text, transcript.text),
                "live_gold": char_errors(call.text, transcript.text),
            }
            summary = pooled[name]
            summary["latencies"] += latencies
            summary["cpu"] += cpu
            summary["audio_s"] += duration
            summary["busy_s"] += busy
            for pair, counts in pairs.items():
                _add(summary["errors"].setdefault(pair, [0, 0]), counts)
            row[name] = {
                "utterances": len(latencies),
                "turns": len(transcript.turns),
                "latency_p50_s": percentile(latencies, 50),
                "latency_p95_s": percentile(latencies, 95),
                "wall_latency_p95_s": percentile(wall, 95),
                "rtf": round(busy / duration, 3),
                **{f"cer_{pair}": _rate(counts) for pair, counts in pairs.items()},
            }
        rows.append(row)
        out.print(f"{call.call_id}: {json.dumps(row, ensure_ascii=False)}")

    audio_s = sum(r["duration_s"] for r in rows)
    overall = {
        "calls": len(rows),
        "audio_s": round(audio_s, 1),
        "batch_rtf": round(batch_s / audio_s, 3),
        "cer_batch_gold": _rate(batch_errors),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "cpus": os.cpu_count(),
        "chunk_ms": args.chunk_ms,
        "speed": args.speed,
        "prompt_previous": base.prompt_previous,
        "variants": {},
    }
    if args.refined:
        overall["refined"] = {
            "rtf": round(refined_s / audio_s, 3),
            "cer_refined_gold": _rate(refined_errors["gold"]),
            "cer_refined_batch": _rate(refined_errors["batch"]),
        }
    for name, summary in pooled.items():
        rtf = summary["busy_s"] / summary["audio_s"]
        overall["variants"][name] = {
            "utterances": len(summary["latencies"]),
            "latency_p50_s": percentile(summary["latencies"], 50),
            "latency_p95_s": percentile(summary["latencies"], 95),
            "cpu_per_utterance_p50_s": percentile(summary["cpu"], 50),
            "cpu_per_utterance_p95_s": percentile(summary["cpu"], 95),
            "rtf": round(rtf, 3),
            "simultaneous_calls": math.floor(1 / rtf) if rtf > 0 else None,
            **{f"cer_{pair}": _rate(counts) for pair, counts in summary["errors"].items()},
        }
    table = Table(
        title=f"Live transcription, {len(rows)} calls ({overall['audio_s']} s), chunks of {args.chunk_ms} ms, "
        f"speed {args.speed or 'max'}, batch RTF {overall['batch_rtf']}, batch/gold CER {overall['cer_batch_gold']}"
    )
    for column in (
        "variant",
        "utterances",
        "p50 s",
        "p95 s",
        "CPU s p50 / p95",
        "RTF",
        "calls at 1/RTF",
        "CER live/batch",
        "CER live/gold",
    ):
        table.add_column(column, justify="right")
    for name, v in overall["variants"].items():
        table.add_row(
            name,
            str(v["utterances"]),
            f"{v['latency_p50_s']:.2f}",
            f"{v['latency_p95_s']:.2f}",
            f"{v['cpu_per_utterance_p50_s']:.2f} / {v['cpu_per_utterance_p95_s']:.2f}",
            f"{v['rtf']:.3f}",
            str(v["simultaneous_calls"]),
            f"{v['cer_live_batch']:.3f}",
            f"{v['cer_live_gold']:.3f}",
        )
    if args.refined:
        refined = overall["refined"]
        table.add_row(
            "full-call pass",
            "",
            "",
            "",
            "",
            f"{refined['rtf']:.3f}",
            "",
            f"{refined['cer_refined_batch']:.3f}",
            f"{refined['cer_refined_gold']:.3f}",
        )
    out.print(table)
    out.print(f"load average {overall['load_average']} on {os.cpu_count()} CPUs")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"overall": overall, "calls": rows}, indent=2, ensure_ascii=False) + "\n")
    return 0


def _add(total: list[int], counts: tuple[int, int]) -> None:
    total[0] += counts[0]
    total[1] += counts[1]


def _rate(counts) -> float | None:
    return round(counts[0] / counts[1], 4) if counts[1] else None


if __name__ == "__main__":
    sys.exit(main())
