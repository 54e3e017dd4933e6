"""Mono diarization choices on the shared mono calls: clustering linkage, window hop.

DER of the embedding backend's Annotation (before ASR) against the gold turns, without collar and
with a 0.5 s collar, on the mono downmix of every call (the stereo ones too: channels mixed).

    .venv/bin/python bench/diarize.py [--json bench/results/diarize.json]
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
from pyannote.core import Annotation, Segment, Timeline  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import asr.diarize.embedding as embedding  # noqa: E402
from asr.audio import load_audio  # noqa: E402
from asr.vad import WebrtcSpeechDetector  # noqa: E402
from models import Audio  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT.parent / "shared" / "data" / "calls"


def average_linkage(vectors: np.ndarray, num_speakers: int) -> np.ndarray:
    """The first choice, kept here for comparison: average-linkage agglomerative on cosine distance."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    raw = fcluster(linkage(vectors, method="average", metric="cosine"), t=num_speakers, criterion="maxclust")
    order = {label: rank for rank, label in enumerate(dict.fromkeys(raw))}
    return np.array([order[label] for label in raw])


VARIANTS = {
    "ward, hop 0.8 s (default)": (embedding.cluster, {}),
    "ward, hop 0.4 s": (embedding.cluster, {"hop_s": 0.4}),
    "average cosine, hop 0.4 s": (average_linkage, {"hop_s": 0.4}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "diarize.json")
    args = parser.parse_args()
    if not CALLS.is_dir():
        print(f"skipping: {CALLS} is absent")
        return 0
    warnings.filterwarnings("ignore", category=UserWarning, module="pyannote")
    calls = []
    for path in sorted(CALLS.glob("dev-*.json")):
        gold = json.loads(path.read_text(encoding="utf-8"))
        decoded = load_audio(CALLS / gold["audio_files"][0]["path"])
        mono = Audio([decoded.mono()], decoded.sample_rate, decoded.source_sample_rate, 1, decoded.codec)
        reference = Annotation()
        for index, turn in enumerate(gold["turns"]):
            reference[Segment(turn["start"], turn["end"]), index] = turn["speaker"]
        calls.append((mono, WebrtcSpeechDetector().detect(mono), reference))

    results = {}
    original = embedding.cluster
    for name, (method, change) in VARIANTS.items():
        embedding.cluster = method
        diarizer = embedding.EmbeddingDiarizer(embedding.EmbeddingDiarizerOptions(**change))
        der, der_collar, seconds, audio_s = [], [], 0.0, 0.0
        for mono, speech, reference in calls:
            started = time.perf_counter()
            hypothesis = diarizer.diarize(mono, speech).annotation
            seconds += time.perf_counter() - started
            audio_s += mono.duration
            uem = Timeline([Segment(0, mono.duration)])
            der.append(DiarizationErrorRate(collar=0.0)(reference, hypothesis, uem=uem))
            der_collar.append(DiarizationErrorRate(collar=0.5)(reference, hypothesis, uem=uem))
        results[name] = {
            "der": round(float(np.mean(der)), 4),
            "der_collar": round(float(np.mean(der_collar)), 4),
            "worst_der_collar": round(float(np.max(der_collar)), 4),
            "x_realtime": round(audio_s / seconds, 1),
        }
    embedding.cluster = original

    table = Table(title=f"Embedding diarization on {len(calls)} shared calls (mono mix)")
    for column in ("variant", "DER", "DER collar 0.5", "worst DER collar", "x RT"):
        table.add_column(column, justify="right")
    for name, row in results.items():
        table.add_row(
            name,
            f"{row['der']:.1%}",
            f"{row['der_collar']:.1%}",
            f"{row['worst_der_collar']:.1%}",
            f"{row['x_realtime']}",
        )
    Console(width=120).print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
