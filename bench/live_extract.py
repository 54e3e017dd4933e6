"""Live ticket extraction: what one re-extraction costs as a call grows, and whether it holds up decoding.

The live worker extracts the ticket again after every caller turn, on a thread of its own with the latest
transcript only (pipeline/service/live/worker.py), while the call's thread decodes the next utterance. Two numbers:

1. latency: the deployment's extractor (pipeline.factory.build_extractor, default settings) on every prefix of each
   gold call that ends with a caller turn (the transcript the worker has when that turn lands): p50/p95/max per
   prefix, and the extraction seconds per call against the call's length (the share of one core it takes).
2. contention: one caller utterance of the demo call decoded by Whisper (the real Transcriber) alone, and while
   extractions run back to back on another thread, interleaved, `--repeat` times each: how much longer an
   utterance's text takes when a ticket is being extracted meanwhile.

    .venv/bin/python bench/live_extract.py [--calls ../shared/data/calls] [--repeat 5] [--json OUT]
"""

import argparse
import json
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from models import SpeechSpan  # noqa: E402
from pipeline.factory import build_engines, build_extractor  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.ticket_evaluation import load_gold_tickets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEMO = ROOT / "samples" / "demo-call.wav"
DEMO_CALLER_TURN = (8.254, 14.649)  # the caller's first turn in samples/demo-call.json, channel 1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=Path, default=SHARED / "calls")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "live_extract.json")
    args = parser.parse_args()
    if not args.calls.is_dir():
        sys.exit(f"no gold calls at {args.calls} (../shared/data is not here)")
    console = Console()
    settings = Settings(_env_file=None)
    extractor = build_extractor(settings)
    golds = load_gold_tickets(args.calls)
    extractor.extract(golds[0].turns_transcript, golds[0].meta)  # lazy loads (LAC, dictionaries, KB) apart

    prefix_ms: list[float] = []
    share_of_call: list[float] = []
    for gold in golds:
        transcript = gold.turns_transcript
        spent = 0.0
        for index, turn in enumerate(transcript.turns):
            if turn.role != "caller":
                continue
            prefix = replace(transcript, turns=transcript.turns[: index + 1])
            started = time.perf_counter()
            extractor.extract(prefix, gold.meta)
            seconds = time.perf_counter() - started
            prefix_ms.append(seconds * 1000)
            spent += seconds
        share_of_call.append(spent / max(transcript.duration, 1.0))

    engines = build_engines(
        settings.model_copy(update={"extract": settings.extract.model_copy(update={"enabled": False})})
    )
    audio = load_audio(DEMO)
    span = [SpeechSpan(*DEMO_CALLER_TURN, channel=1)]
    samples = audio.channels[1]
    engines.transcriber.transcribe(samples, span, 1)  # warm

    def decode_ms() -> float:
        started = time.perf_counter()
        engines.transcriber.transcribe(samples, span, 1)
        return (time.perf_counter() - started) * 1000

    alone, contended = [], []
    busy = threading.Event()

    def extract_loop():
        gold = golds[0]
        while busy.is_set():
            extractor.extract(gold.turns_transcript, gold.meta)

    for _ in range(args.repeat):
        alone.append(decode_ms())
        busy.set()
        thread = threading.Thread(target=extract_loop, daemon=True)
        thread.start()
        time.sleep(0.05)  # the extraction is under way when decoding starts
        contended.append(decode_ms())
        busy.clear()
        thread.join()

    results = {
        "calls": len(golds),
        "extract_per_caller_turn_ms": {
            "extractions": len(prefix_ms),
            "p50": round(percentile(prefix_ms, 0.5), 1),
            "p95": round(percentile(prefix_ms, 0.95), 1),
            "max": round(max(prefix_ms), 1),
        },
        "extract_seconds_per_call_second": {
            "mean": round(statistics.fmean(share_of_call), 4),
            "max": round(max(share_of_call), 4),
        },
        "decode_one_utterance_ms": {
            "utterance_s": round(DEMO_CALLER_TURN[1] - DEMO_CALLER_TURN[0], 2),
            "alone_p50": round(statistics.median(alone), 1),
            "during_extraction_p50": round(statistics.median(contended), 1),
            "slowdown_p50": round(statistics.median(contended) / statistics.median(alone), 2),
            "repeat": args.repeat,
        },
    }
    table = Table(title=f"live re-extraction ({results['calls']} gold calls, default extractor)")
    for column in ("measure", "value"):
        table.add_column(column)
    row = results["extract_per_caller_turn_ms"]
    table.add_row("extraction per caller turn, ms (p50 / p95 / max)", f"{row['p50']} / {row['p95']} / {row['max']}")
    share = results["extract_seconds_per_call_second"]
    table.add_row("extraction seconds per second of call (mean / max)", f"{share['mean']} / {share['max']}")
    decode = results["decode_one_utterance_ms"]
    table.add_row(
        f"decode a {decode['utterance_s']} s utterance, ms (alone → during extraction)",
        f"{decode['alone_p50']} → {decode['during_extraction_p50']} (×{decode['slowdown_p50']})",
    )
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
