"""Our pipeline against plain faster-whisper, side by side on the same audio, in one run.

Three systems, same model directory, device, compute type and thread count:

- plain:         WhisperModel.transcribe(file, language="zh", vad_filter=True, beam_size=5)
- plain+prompt:  the same with initial_prompt="以下是普通话的句子。" (the popular one)
- ours:          pipeline.run.run_pipeline with engines from pipeline.factory.build_engines
                 (VAD + ASR per channel + guards + diarization + roles)

Plain gets stereo files as faster-whisper decodes them by default (a mono downmix); ours
transcribes each channel. Per file the systems run interleaved (plain, plain+prompt, ours) so
that noise from other work on the machine hits all of them alike; compare ratios, not absolute
speeds. Models are loaded and each system runs once on a short clip before anything is timed.

    .venv/bin/python bench/asr.py --threads 2 --json bench/results/asr-cpu.json
    .venv/bin/python bench/asr.py --device cuda --compute-type float16 --sets calls
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# pyannote.metrics warns on every call that it approximates the UEM from the two annotations
warnings.filterwarnings("ignore", message="'uem' was approximated", category=UserWarning)
# Run as `python bench/asr.py`, this file's folder comes first on sys.path and its name would
# shadow the project's `asr` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from models import CallMeta  # noqa: E402
from pipeline.evaluation import GoldCall, char_errors, load_gold, normalize_for_cer, score_call, summarize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SETS = ("calls", "speech_real", "speech", "samples")
SYSTEMS = ("plain", "plain+prompt", "ours")
POPULAR_PROMPT = "以下是普通话的句子。"
CALL_FORMATS = ("wav_mulaw_stereo", "wav_pcm16_mono", "mp3_16k_mono")

out = Console(width=160)
log = Console(stderr=True, width=160)


@dataclass
class Item:
    """One audio file with its reference text (and gold turns for calls)."""

    set: str
    id: str
    audio: Path
    reference: str
    format: str
    gold: GoldCall | None = None


@dataclass
class Row:
    """One system on one file."""

    set: str
    id: str
    system: str
    format: str
    duration: float
    wall_seconds: float
    char_errors: int
    ref_chars: int
    cer: float
    hallucinated_chars: int
    hypothesis: str
    error: str | None = None
    stage_seconds: dict | None = None
    pipeline_warnings: list[str] = field(default_factory=list)
    call_score: dict | None = None


# ---------------------------------------------------------------- data sets


def load_items(name: str, data: Path) -> tuple[list[Item], str | None]:
    """Items of one set, or ([], reason) when its folder is absent."""
    if name == "samples":
        folder = ROOT / "samples"
        if not folder.is_dir():
            return [], f"{folder} not found"
        # both demo files carry the same call_id: name them by file
        items = [Item(name, gold.audio.name, gold.audio, gold.text, gold.format, gold) for gold in load_gold(folder)]
        return items, None
    folder = data / name
    if not folder.is_dir():
        return [], f"{folder} not found"
    if name == "calls":
        return [_gold_item(name, gold) for gold in load_gold(folder)], None
    if name == "speech_real":
        with (folder / "manifest.tsv").open(encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file, delimiter="\t"))
        return [
            Item(name, row["file"], folder / row["file"], row["transcript"], f"{row['sample_rate']} Hz mono")
            for row in rows
            if row.get("transcript")
        ], None
    if name == "speech":
        items = []
        for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("transcript"):
                fmt = f"{row['sample_rate']} Hz {Path(row['file']).suffix.lstrip('.')}"
                items.append(Item(name, row["file"], folder / row["file"], row["transcript"], fmt))
        return items, None
    raise ValueError(f"unknown set {name!r}")


def _gold_item(set_name: str, gold: GoldCall) -> Item:
    return Item(set_name, gold.call_id, gold.audio, gold.text, gold.format, gold)


# ---------------------------------------------------------------- systems


class Plain:
    """faster-whisper as most projects call it: the whole file, its own Silero VAD."""

    def __init__(self, model_path: str, device: str, compute_type: str, threads: int):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(model_path, device=device, compute_type=compute_type, cpu_threads=threads)

    def transcribe(self, audio: Path, prompt: str | None) -> tuple[list[tuple[float, float, str]], float]:
        segments, info = self.model.transcribe(
            str(audio), language="zh", vad_filter=True, word_timestamps=False, beam_size=5, initial_prompt=prompt
        )
        # the generator decodes lazily: consume it inside the timed region
        return [(s.start, s.end, s.text) for s in segments], info.duration


class Ours:
    def __init__(self, settings):
        from pipeline.factory import build_engines, pipeline_options

        self.engines = build_engines(settings)
        self.options = pipeline_options(settings)

    @property
    def model_path(self) -> str:
        return self.engines.transcriber.model_name

    def transcribe(self, item: Item):
        from pipeline.run import run_pipeline

        meta = item.gold.meta if item.gold else CallMeta(call_id=item.id)
        return run_pipeline(item.audio, meta, self.engines, self.options)


def run_plain(plain: Plain, item: Item, system: str) -> Row:
    prompt = POPULAR_PROMPT if system == "plain+prompt" else None
    started = time.perf_counter()
    error, segments, duration = None, [], 0.0
    try:
        segments, duration = plain.transcribe(item.audio, prompt)
    except Exception as exc:  # a failing file is recorded as an empty transcript, not fatal
        error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    text = "".join(segment[2].strip() for segment in segments)
    holds = item.gold.events if item.gold else []
    # no word timestamps here: a segment counts as inside a hold when its midpoint is
    halluc = sum(
        len(normalize_for_cer(seg_text))
        for start, end, seg_text in segments
        for event in holds
        if event["start"] <= (start + end) / 2 <= event["end"]
    )
    return _row(item, system, duration, wall, text, halluc, error)


def run_ours(ours: Ours, item: Item) -> Row:
    started = time.perf_counter()
    try:
        transcript = ours.transcribe(item)
    except Exception as exc:  # e.g. NoSpeechError on a clip: counted as an empty transcript
        return _row(item, "ours", 0.0, time.perf_counter() - started, "", 0, f"{type(exc).__name__}: {exc}")
    wall = time.perf_counter() - started
    text = "".join(turn.text for turn in transcript.turns)
    score = score_call(item.gold, transcript, wall) if item.gold else None
    row = _row(item, "ours", transcript.duration, wall, text, score.hallucinated_chars if score else 0, None)
    row.stage_seconds = transcript.timings
    row.pipeline_warnings = [f"{w.code}: {w.message}" for w in transcript.warnings]
    if score:
        row.call_score = asdict(score)
        row.call_score["turns"] = [
            {"role": t.role, "speaker": t.speaker, "start": t.start, "end": t.end, "text": t.text}
            for t in transcript.turns
        ]
    return row


def _row(item: Item, system: str, duration: float, wall: float, text: str, halluc: int, error: str | None) -> Row:
    errors, ref = char_errors(item.reference, text)
    return Row(
        set=item.set,
        id=item.id,
        system=system,
        format=item.format,
        duration=round(duration, 3),
        wall_seconds=round(wall, 3),
        char_errors=errors,
        ref_chars=ref,
        cer=round(errors / ref, 4) if ref else 0.0,
        hallucinated_chars=halluc,
        hypothesis=text,
        error=error,
    )


# ---------------------------------------------------------------- summaries


def summarize_rows(rows: list[Row]) -> dict[str, dict]:
    """Per system: pooled CER, audio and wall time, realtime factor, speed relative to plain."""
    summary: dict[str, dict] = {}
    for system in SYSTEMS:
        group = [row for row in rows if row.system == system]
        if not group:
            continue
        ref = sum(row.ref_chars for row in group)
        wall = sum(row.wall_seconds for row in group)
        # one audio length per file for every system (ours reports 0 s on a failed file)
        audio = sum(_duration(rows, row.id) for row in group)
        summary[system] = {
            "files": len(group),
            "failed": sum(row.error is not None for row in group),
            "cer": round(sum(row.char_errors for row in group) / ref, 4) if ref else None,
            "char_errors": sum(row.char_errors for row in group),
            "ref_chars": ref,
            "audio_seconds": round(audio, 1),
            "wall_seconds": round(wall, 1),
            "x_realtime": round(audio / wall, 2) if wall else None,
            "hallucinated_chars": sum(row.hallucinated_chars for row in group),
        }
    plain_wall = summary.get("plain", {}).get("wall_seconds")
    for values in summary.values():
        values["speed_vs_plain"] = round(plain_wall / values["wall_seconds"], 2) if plain_wall else None
    scores = [_score(row) for row in rows if row.system == "ours" and row.call_score]
    if scores and "ours" in summary:
        diar = summarize(scores)["all"]
        summary["ours"].update({key: diar[key] for key in ("der", "der_collar", "role_accuracy", "both_roles")})
    return summary


def _duration(rows: list[Row], file_id: str) -> float:
    return max((row.duration for row in rows if row.id == file_id), default=0.0)


def _score(row: Row):
    from pipeline.evaluation import CallScore

    fields = {key: value for key, value in row.call_score.items() if key != "turns"}
    return CallScore(**fields)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _num(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table_rows(summary: dict[str, dict], calls: bool) -> tuple[list[str], list[list[str]]]:
    header = ["system", "files", "failed", "CER", "audio s", "wall s", "x realtime", "speed vs plain"]
    if calls:
        header += ["DER", "DER collar", "role acc", "both roles", "halluc. chars in holds"]
    body = []
    for system, row in summary.items():
        cells = [
            system,
            str(row["files"]),
            str(row["failed"]),
            _pct(row["cer"]),
            _num(row["audio_seconds"]),
            _num(row["wall_seconds"]),
            _num(row["x_realtime"], 2),
            _num(row["speed_vs_plain"], 2),
        ]
        if calls:
            cells += [
                _pct(row.get("der")),
                _pct(row.get("der_collar")),
                _pct(row.get("role_accuracy")),
                f"{row['both_roles']}/{row['files']}" if "both_roles" in row else "–",
                str(row["hallucinated_chars"]),
            ]
        body.append(cells)
    return header, body


def print_table(title: str, header: list[str], body: list[list[str]]) -> None:
    table = Table(title=title)
    for index, column in enumerate(header):
        table.add_column(column, justify="left" if index == 0 else "right")
    for cells in body:
        table.add_row(*cells)
    out.print(table)


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def warm_up(plain: Plain, ours: Ours, items: list[Item], data: Path) -> None:
    """Load every model and run each system once, so first-call costs stay out of the timings."""
    candidates = [
        data / "speech_real" / "aishell_asr0009_sample" / "BAC009S0150W0121.wav",
        data / "speech" / "wenet" / "aishell-BAC009S0724W0121.wav",
        ROOT / "samples" / "demo-call-mono.wav",
    ]
    clip = next((path for path in candidates if path.is_file()), items[0].audio if items else None)
    if clip is None:
        return
    log.print(f"warm-up on {clip.name}")
    item = Item("warm-up", "warm-up", clip, "", "")
    for system in ("plain", "plain+prompt"):
        run_plain(plain, item, system)
    run_ours(ours, item)


def _code_state() -> str:
    """The commit measured, and which tracked files differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "diff", "--name-only", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    changed = dirty.stdout.split()
    return head.stdout.strip() + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def resolve_compute_type(compute_type: str, device: str) -> str:
    if compute_type != "default":
        return compute_type
    return "int8" if device == "cpu" else "float16"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    parser.add_argument("--limit", type=int, default=None, help="only the first N files of each set")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both systems")
    parser.add_argument("--model", default="base", help="'base' (bundled), a hub name or a CTranslate2 directory")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--compute-type", default="default", help="default: int8 on CPU, float16 on CUDA")
    parser.add_argument("--batch-size", type=int, default=8, help="our pipeline's batch size (plain is sequential)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--json", type=Path, default=None, help="default bench/results/asr-<device>.json")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the tables as markdown here")
    args = parser.parse_args(argv)

    from pipeline.settings import Settings

    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = set(sets) - set(SETS)
    if unknown:
        parser.error(f"unknown sets: {', '.join(sorted(unknown))}")
    json_out = args.json or ROOT / "bench" / "results" / f"asr-{args.device}.json"
    compute_type = resolve_compute_type(args.compute_type, args.device)

    items_by_set: dict[str, list[Item]] = {}
    skipped: dict[str, str] = {}
    for name in sets:
        items, reason = load_items(name, args.data)
        if reason:
            log.print(f"skipping {name}: {reason}")
            skipped[name] = reason
            continue
        items_by_set[name] = items[: args.limit] if args.limit else items

    settings = Settings(
        model=args.model,
        device=args.device,
        compute_type=compute_type,
        cpu_threads=args.threads,
        batch_size=args.batch_size,
    )
    ours = Ours(settings)
    plain = Plain(ours.model_path, args.device, compute_type, args.threads)
    config = {
        "model": args.model,
        "model_path": ours.model_path,
        "device": args.device,
        "compute_type": compute_type,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "ours_initial_prompt": settings.initial_prompt,
        "plain_prompt": POPULAR_PROMPT,
        "cpu_count": os.cpu_count(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "code": _code_state(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "note": "plain gets stereo files as faster-whisper's default mono downmix; ours transcribes each channel",
    }
    log.print(f"model {ours.model_path} on {args.device}/{compute_type}, {args.threads} threads")
    warm_up(plain, ours, [item for items in items_by_set.values() for item in items], args.data)

    results: dict[str, dict] = {}
    markdown: list[str] = []
    for name, items in items_by_set.items():
        rows: list[Row] = []
        for index, item in enumerate(items, 1):
            for system in SYSTEMS:
                rows.append(run_ours(ours, item) if system == "ours" else run_plain(plain, item, system))
            cers = "  ".join(f"{row.system} {row.cer:.3f} {row.wall_seconds:.1f}s" for row in rows[-3:])
            log.print(f"[{name} {index}/{len(items)}] {item.id}: {cers}", markup=False, highlight=False)
        summary = summarize_rows(rows)
        by_format = {}
        if name in ("calls", "samples"):
            for fmt in CALL_FORMATS:
                subset = [row for row in rows if row.format == fmt]
                if subset:
                    by_format[fmt] = summarize_rows(subset)
        results[name] = {"summary": summary, "by_format": by_format, "files": [asdict(row) for row in rows]}

        is_call = name in ("calls", "samples")
        header, body = table_rows(summary, is_call)
        title = f"{name}: {len(items)} files ({args.model}, {args.device}/{compute_type}, {args.threads} threads)"
        print_table(title, header, body)
        markdown += [f"### {name}", "", markdown_table(header, body), ""]
        if name == "calls" and by_format:
            for fmt, fmt_summary in by_format.items():
                header, body = table_rows(fmt_summary, True)
                print_table(f"calls, {fmt}", header, body)
                markdown += [f"#### calls, {fmt}", "", markdown_table(header, body), ""]
    if any(item.gold and item.gold.layout == "stereo" for items in items_by_set.values() for item in items):
        out.print("note: plain gets stereo files as a mono downmix (faster_whisper.decode_audio default)")

    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(
        json.dumps({"config": config, "skipped": skipped, "sets": results}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    log.print(f"wrote {json_out}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(markdown), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
