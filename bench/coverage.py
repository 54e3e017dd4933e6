"""Speech left without words, and what repairing it costs: gap re-decode on and off, side by side.

Every shared call (24) and a mono rendering of each stereo one (its two channels averaged: one
signal for both parties, where batched windows stopped early) go through `run_pipeline` with the
default engines, ticket extraction off, twice per file and interleaved (the order alternating
from file to file), so that other work on the machine hits both alike:

- repair:    the defaults: speech without words decoded again gap by gap, loops cut (asr.coverage)
- no repair: RedecodeOptions(gaps=False): a window that loops or stops early is decoded again
             whole, as before the gap repair (both with the same bounded fallback and budget)

Per call: real-time factor (wall seconds / audio seconds, and CPU seconds of this process / audio
seconds, less noisy on a shared machine), seconds of VAD speech without words after the repair
(the `untranscribed` warnings), re-decodes (logged by asr.transcribe), CER against the gold turns.

    .venv/bin/python bench/coverage.py --threads 2 --json bench/results/coverage-cpu.json
"""

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
import wave
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
warnings.filterwarnings("ignore", message="'uem' was approximated", category=UserWarning)
# Run as `python bench/coverage.py`, this file's folder comes first on sys.path and bench/asr.py
# would shadow the project's `asr` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from asr.audio import load_audio  # noqa: E402
from asr.coverage import untranscribed_seconds  # noqa: E402
from asr.transcribe import FasterWhisperTranscriber  # noqa: E402
from pipeline.evaluation import GoldCall, char_errors, load_gold  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SYSTEMS = ("repair", "no repair")

out = Console(width=200)
log = Console(stderr=True, width=160)


@dataclass
class Row:
    """One system on one rendering of one call."""

    call_id: str
    rendering: str  # "as recorded" | "mono"
    system: str
    duration: float
    wall_seconds: float
    cpu_seconds: float
    transcribe_seconds: float
    speech_seconds: float
    untranscribed_s: float
    redecodes: dict[str, int]
    char_errors: int
    ref_chars: int
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def rtf(self) -> float:
        return self.wall_seconds / self.duration if self.duration else 0.0

    @property
    def cpu_rtf(self) -> float:
        return self.cpu_seconds / self.duration if self.duration else 0.0

    @property
    def transcribe_rtf(self) -> float:
        """The transcription stage alone (first pass, re-decodes, guards), where the repair's cost lies."""
        return self.transcribe_seconds / self.duration if self.duration else 0.0


class RedecodeCounter(logging.Handler):
    """Counts asr.transcribe's re-decode records (they carry a `redecode` attribute: window | gap)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        kind = getattr(record, "redecode", None)
        if kind:
            self.counts[kind] = self.counts.get(kind, 0) + 1


def renderings(calls: list[GoldCall], folder: Path) -> list[tuple[GoldCall, str, Path]]:
    """Each call as recorded, and a 16 kHz mono WAV of each stereo one."""
    items = [(gold, "as recorded", gold.audio) for gold in calls]
    for gold in calls:
        if gold.layout == "stereo":
            audio = load_audio(gold.audio)
            path = folder / f"{gold.call_id}-mono.wav"
            pcm = (np.clip(audio.mono(), -1.0, 1.0) * 32767).astype("<i2")
            with wave.open(str(path), "wb") as file:
                file.setnchannels(1)
                file.setsampwidth(2)
                file.setframerate(audio.sample_rate)
                file.writeframes(pcm.tobytes())
            items.append((gold, "mono", path))
    return items


def run_one(engines, options, gold: GoldCall, rendering: str, path: Path, system: str, counter) -> Row:
    from pipeline.run import run_pipeline

    counter.counts = {}
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        transcript = run_pipeline(path, gold.meta, engines, options)
    except Exception as exc:  # a failing file is recorded, not fatal
        return Row(gold.call_id, rendering, system, 0, 0, 0, 0, 0, 0, {}, 0, 0, error=f"{type(exc).__name__}: {exc}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    errors, ref = char_errors(gold.text, "".join(turn.text for turn in transcript.turns))
    return Row(
        call_id=gold.call_id,
        rendering=rendering,
        system=system,
        duration=transcript.duration,
        wall_seconds=round(wall, 3),
        cpu_seconds=round(cpu, 3),
        transcribe_seconds=transcript.timings.get("transcribe", 0.0),
        speech_seconds=transcript.metadata.get("speech_seconds", 0.0),
        untranscribed_s=untranscribed_seconds(transcript.warnings),
        redecodes=dict(counter.counts),
        char_errors=errors,
        ref_chars=ref,
        warnings=[f"{w.code} {w.start}-{w.end}" for w in transcript.warnings if w.code == "untranscribed"],
    )


def summarize(rows: list[Row]) -> dict:
    ok = [row for row in rows if row.error is None]
    if not ok:
        return {"files": len(rows), "failed": len(rows)}
    ref = sum(row.char_errors for row in ok), sum(row.ref_chars for row in ok)
    summary = {
        "files": len(rows),
        "failed": len(rows) - len(ok),
        "cer": round(ref[0] / ref[1], 4) if ref[1] else None,
        "untranscribed_s": round(sum(row.untranscribed_s for row in ok), 1),
        "calls_with_untranscribed": sum(row.untranscribed_s > 0 for row in ok),
        "speech_seconds": round(sum(row.speech_seconds for row in ok), 1),
        "redecodes": sum(sum(row.redecodes.values()) for row in ok),
    }
    for name, key in (("rtf", "rtf"), ("cpu_rtf", "cpu_rtf"), ("transcribe_rtf", "transcribe_rtf")):
        values = [getattr(row, key) for row in ok]
        median = statistics.median(values)
        slowest = max(ok, key=lambda row: getattr(row, key))
        summary[name] = {
            "median": round(median, 3),
            "max": round(getattr(slowest, key), 3),
            "max_over_median": round(getattr(slowest, key) / median, 2) if median else None,
            "slowest": f"{slowest.call_id} ({slowest.rendering})",
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for CTranslate2")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--limit", type=int, default=None, help="only the first N calls")
    parser.add_argument("--calls", default=None, help="comma-separated call ids (default: all)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--json", type=Path, default=None, help="default bench/results/coverage-<device>.json")
    args = parser.parse_args(argv)

    from pipeline.factory import build_engines, pipeline_options
    from pipeline.settings import ExtractSettings, Settings

    folder = args.data / "calls"
    if not folder.is_dir():
        log.print(f"no shared calls at {folder}")
        return 2
    calls = load_gold(folder)
    if args.calls:
        wanted = {name.strip() for name in args.calls.split(",")}
        calls = [gold for gold in calls if gold.call_id in wanted]
    calls = calls[: args.limit] if args.limit else calls
    settings = Settings(device=args.device, cpu_threads=args.threads, extract=ExtractSettings(enabled=False))
    repair = build_engines(settings)
    transcriber = repair.transcriber
    options = transcriber.options
    without = FasterWhisperTranscriber(
        transcriber.config, replace(options, redecode=replace(options.redecode, gaps=False))
    )
    engines = {"repair": repair, "no repair": replace(repair, transcriber=without)}
    pipeline = pipeline_options(settings)
    counter = RedecodeCounter()
    transcribe_log = logging.getLogger("asr.transcribe")
    transcribe_log.setLevel(logging.INFO)
    transcribe_log.addHandler(counter)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        items = renderings(calls, Path(tmp))
        log.print(f"{len(items)} recordings, model {transcriber.model_name}, {args.threads} threads; warming up")
        for system in SYSTEMS:  # load the models outside the timed runs
            run_one(engines[system], pipeline, *items[0], system, counter)
        for index, (gold, rendering, path) in enumerate(items):
            order = SYSTEMS if index % 2 == 0 else SYSTEMS[::-1]
            for system in order:
                row = run_one(engines[system], pipeline, gold, rendering, path, system, counter)
                rows.append(row)
                log.print(
                    f"[{index + 1}/{len(items)}] {gold.call_id} {rendering} {system}: rtf {row.rtf:.3f} "
                    f"cpu {row.cpu_rtf:.3f} no words {row.untranscribed_s:.1f}s redecodes {row.redecodes} "
                    f"CER {row.char_errors}/{row.ref_chars} {row.error or ''}",
                    markup=False,
                    highlight=False,
                )

    groups = {"all": rows, "as recorded": [r for r in rows if r.rendering == "as recorded"]}
    groups["mono renderings"] = [r for r in rows if r.rendering == "mono"]
    summary = {
        group: {system: summarize([r for r in members if r.system == system]) for system in SYSTEMS}
        for group, members in groups.items()
    }
    print_tables(rows, summary)
    json_out = args.json or ROOT / "bench" / "results" / f"coverage-{args.device}.json"
    json_out.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model": transcriber.model_name,
        "threads": args.threads,
        "device": args.device,
        "cpu_count": os.cpu_count(),
        "redecode": asdict(options.redecode),
        "coverage": asdict(options.coverage),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    report = {
        "config": config,
        "summary": summary,
        "rows": [
            {
                **asdict(row),
                "rtf": round(row.rtf, 4),
                "cpu_rtf": round(row.cpu_rtf, 4),
                "transcribe_rtf": round(row.transcribe_rtf, 4),
            }
            for row in rows
        ],
    }
    json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log.print(f"wrote {json_out}")
    return 0


def print_tables(rows: list[Row], summary: dict) -> None:
    calls = Table(title="Per call: repair | no repair")
    for column in ("call", "rendering", "audio s", "RTF", "transcribe RTF", "no words s", "re-decodes", "CER"):
        calls.add_column(column, justify="right")
    by_key: dict[tuple[str, str], dict[str, Row]] = {}
    for row in rows:
        by_key.setdefault((row.call_id, row.rendering), {})[row.system] = row
    for (call_id, rendering), pair in by_key.items():
        on, off = pair.get("repair"), pair.get("no repair")
        if on is None or off is None or on.error or off.error:
            calls.add_row(call_id, rendering, "failed")
            continue
        calls.add_row(
            call_id,
            rendering,
            f"{on.duration:.1f}",
            _both(on, off, "{:.3f}", lambda r: r.rtf),
            _both(on, off, "{:.3f}", lambda r: r.transcribe_rtf),
            _both(on, off, "{:.1f}", lambda r: r.untranscribed_s),
            _both(on, off, "{}", lambda r: sum(r.redecodes.values())),
            _both(on, off, "{:.1%}", lambda r: r.char_errors / r.ref_chars if r.ref_chars else 0.0),
        )
    out.print(calls)

    table = Table(title="Summary")
    for column in (
        "set",
        "system",
        "files",
        "CER",
        "no words s",
        "calls with",
        "re-decodes",
        "median RTF",
        "max RTF / median",
        "slowest",
        "median CPU RTF",
        "max CPU RTF / median",
        "median transcribe RTF",
        "max transcribe RTF / median",
    ):
        table.add_column(column, justify="right")
    for group, systems in summary.items():
        for system, row in systems.items():
            if "rtf" not in row:
                continue
            table.add_row(
                group,
                system,
                str(row["files"]),
                f"{row['cer']:.1%}",
                f"{row['untranscribed_s']:.1f}",
                str(row["calls_with_untranscribed"]),
                str(row["redecodes"]),
                f"{row['rtf']['median']:.3f}",
                f"{row['rtf']['max_over_median']:.2f}",
                row["rtf"]["slowest"],
                f"{row['cpu_rtf']['median']:.3f}",
                f"{row['cpu_rtf']['max_over_median']:.2f}",
                f"{row['transcribe_rtf']['median']:.3f}",
                f"{row['transcribe_rtf']['max_over_median']:.2f}",
            )
    out.print(table)


def _both(on: Row, off: Row, fmt: str, get) -> str:
    return f"{fmt.format(get(on))} | {fmt.format(get(off))}"


if __name__ == "__main__":
    sys.exit(main())
