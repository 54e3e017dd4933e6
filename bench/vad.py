"""VAD settings against the gold turns of the shared calls: speech recall, precision, hold rejection.

Frame-level (10 ms) comparison of detected speech with the union of gold turns, per channel on
stereo calls. Cheap (webrtcvad only), so it sweeps a few settings in one run.

    .venv/bin/python bench/vad.py [--json bench/results/vad.json]
"""

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from asr.vad import VadOptions, WebrtcSpeechDetector  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT.parent / "shared" / "data" / "calls"
VARIANTS = {
    "default": {},
    "aggressiveness 3": {"aggressiveness": 3},
    "aggressiveness 1": {"aggressiveness": 1},
    "pad 150 ms": {"speech_pad_ms": 150},
    "pad 300 ms": {"speech_pad_ms": 300},
    "no tone rejection": {"max_tonality": 1.01},
}


def score(options: VadOptions, calls: list[tuple[dict, object]]) -> dict:
    detector = WebrtcSpeechDetector(options)
    recall, precision, hold_speech, spans = [], [], 0.0, 0
    for gold, audio in calls:
        detected = detector.detect(audio)
        spans += len(detected)
        frames = int(audio.duration * 100) + 1
        for channel in range(len(audio.channels)):
            speaker = gold["channel_layout"].get("channels", ["mixed"])[channel]
            ref, hyp = np.zeros(frames, bool), np.zeros(frames, bool)
            for turn in gold["turns"]:
                if speaker in ("mixed", turn["speaker"]):
                    ref[int(turn["start"] * 100) : int(turn["end"] * 100)] = True
            for span in detected:
                if span.channel == channel:
                    hyp[int(span.start * 100) : int(span.end * 100)] = True
            recall.append((ref & hyp).sum() / max(1, ref.sum()))
            precision.append((ref & hyp).sum() / max(1, hyp.sum()))
            for event in gold.get("events", []):
                hold_speech += hyp[int(event["start"] * 100) : int(event["end"] * 100)].sum() / 100
    return {
        "recall": round(float(np.mean(recall)), 4),
        "recall_min": round(float(np.min(recall)), 4),
        "precision": round(float(np.mean(precision)), 4),
        "speech_in_holds_s": round(hold_speech, 2),
        "spans_per_call": round(spans / len(calls), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "vad.json")
    args = parser.parse_args()
    if not CALLS.is_dir():
        print(f"skipping: {CALLS} is absent")
        return 0
    calls = []
    for path in sorted(CALLS.glob("dev-*.json")):
        gold = json.loads(path.read_text(encoding="utf-8"))
        calls.append((gold, load_audio(CALLS / gold["audio_files"][0]["path"])))
    results = {}
    table = Table(title=f"VAD on {len(calls)} shared calls (per channel, 10 ms frames)")
    for column in ("variant", "recall", "min recall", "precision", "speech in holds s", "spans/call"):
        table.add_column(column, justify="right")
    for name, change in VARIANTS.items():
        options = VadOptions(**change)
        results[name] = {"options": asdict(options), **score(options, calls)}
        row = results[name]
        table.add_row(
            name,
            f"{row['recall']:.3f}",
            f"{row['recall_min']:.3f}",
            f"{row['precision']:.3f}",
            f"{row['speech_in_holds_s']:.1f}",
            f"{row['spans_per_call']}",
        )
    Console(width=120).print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
