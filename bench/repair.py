"""Sound-alike repair with the hotline lexicon: CER before and after, side by side, on the same recognition.

    .venv/bin/python bench/repair.py --sets calls,speech_real --transcripts bench/results/repair-asr \
        --json bench/results/repair.json

Each file is transcribed once by the default pipeline with repair switched off (kept in --transcripts, so a
second run only re-scores); then each variant repairs a copy of the same turns:

- none: the recognition as it is
- digits: sound-alike digits in number strings only
- default lexicon: the bundled lexicon (the city's divisions, the duty catalogue, the hotline's script)
- history lexicon: the default plus places mined from ../shared/data/haikou12345/tickets.csv, with the source
  tickets of the shared calls left out (`hotline lexicon build … --exclude-ids`)

CER is pooled over the files of a set (pipeline.evaluation.char_errors); "repairs" counts rewrites; "ms/file"
is the repair's own time. speech_real is read speech with no hotline words: the no-damage check.

With --written N, the bundled lexicon also repairs the first N written Haikou tickets and the first N/2 citizen
messages of another city (teddy2020c, text cut at 300 characters): correct text, where every repair is a typo
fixed or damage; it prints repairs per 1,000 characters and examples.
"""

import argparse
import copy
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from extract.catalogue import load_catalogue  # noqa: E402
from extract.lexicon import build_lexicon, load_lexicon, read_ticket_texts  # noqa: E402
from extract.repair import RepairOptions, repair_turns  # noqa: E402
from extract.routing import strip_routing_instruction  # noqa: E402
from models import CallMeta, CallTranscript  # noqa: E402
from pipeline.evaluation import char_errors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# bench/asr.py's data sets, loaded under another name (`asr` is the project's package)
_spec = importlib.util.spec_from_file_location("bench_asr", _HERE / "asr.py")
bench_asr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_asr)
load_items = bench_asr.load_items
DEFAULT_DATA = ROOT.parent / "shared" / "data"
out = Console(width=160)


def transcripts(items, folder: Path) -> dict[str, CallTranscript]:
    """Our recognition of each item, repair off; cached as JSON in `folder`."""
    from dataclasses import replace

    from pipeline.factory import build_engines, pipeline_options
    from pipeline.run import run_pipeline
    from pipeline.settings import Settings

    folder.mkdir(parents=True, exist_ok=True)
    found, engines = {}, None
    for item in items:
        path = folder / f"{item.set}--{item.id.replace('/', '_')}.json"
        if path.exists():
            found[item.id] = CallTranscript.from_dict(json.loads(path.read_text(encoding="utf-8")))
            continue
        if engines is None:
            settings = Settings()
            engines = replace(build_engines(settings), extractor=None, reviser=None)
            options = pipeline_options(settings)
        meta = item.gold.meta if item.gold else CallMeta(item.id)
        transcript = run_pipeline(item.audio, meta, engines, options)
        path.write_text(json.dumps(transcript.to_dict(), ensure_ascii=False), encoding="utf-8")
        found[item.id] = transcript
        out.print(f"transcribed {item.set}/{item.id}", highlight=False)
    return found


def history_lexicon(data: Path):
    calls = sorted((data / "calls").glob("*.json"))
    excluded = [json.loads(path.read_text(encoding="utf-8")).get("source_ticket_id") for path in calls]
    texts = read_ticket_texts(data / "haikou12345" / "tickets.csv", "诉求内容", "工单编号", [i for i in excluded if i])
    default = load_lexicon()
    mined = build_lexicon(default.province, default.city, load_catalogue(), map(strip_routing_instruction, texts))
    return default.merged(mined)


def written(data: Path, count: int) -> None:
    """Repairs the bundled lexicon makes in correct written text."""
    import csv

    from extract.repair import repair_text

    lexicon = load_lexicon()
    with (data / "haikou12345" / "tickets.csv").open(encoding="utf-8-sig", newline="") as handle:
        tickets = [row["诉求内容"] for row in csv.DictReader(handle)][:count]
    with (data / "teddy2020c" / "messages.csv").open(encoding="utf-8-sig", newline="") as handle:
        messages = [row["text"][:300] for row in csv.DictReader(handle)][: count // 2]
    for name, texts in (("haikou12345 tickets", tickets), ("teddy2020c messages", messages)):
        repairs = [repair for text in texts for repair in repair_text(text, lexicon)]
        chars = sum(map(len, texts))
        examples = "、".join(f"{repair.heard}→{repair.written}" for repair in repairs[:12])
        out.print(
            f"{name}: {len(texts)} texts, {chars} characters, {len(repairs)} repairs "
            f"({1000 * len(repairs) / max(chars, 1):.2f} per 1,000 characters): {examples}",
            highlight=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default="calls,speech_real")
    parser.add_argument("--transcripts", type=Path, default=ROOT / "bench" / "results" / "repair-asr")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "repair.json")
    parser.add_argument("--written", type=int, default=0, help="also repair N written tickets (see above)")
    args = parser.parse_args()
    if args.written:
        written(args.data, args.written)

    variants = {
        "none": (None, RepairOptions(digits=False)),
        "digits": (None, RepairOptions()),
        "default lexicon": (load_lexicon(), RepairOptions()),
        "history lexicon": (history_lexicon(args.data), RepairOptions()),
    }
    results = []
    for name in args.sets.split(","):
        items, problem = load_items(name, args.data)
        if problem:
            out.print(f"skipping {name}: {problem}")
            continue
        recognised = transcripts(items, args.transcripts)
        for variant, (lexicon, options) in variants.items():
            errors = chars = repairs = 0
            seconds = 0.0
            for item in items:
                turns = copy.deepcopy(recognised[item.id].turns)
                started = time.perf_counter()
                repairs += len(repair_turns(turns, lexicon, options)) if variant != "none" else 0
                seconds += time.perf_counter() - started
                wrong, total = char_errors(item.reference, "".join(turn.text for turn in turns))
                errors, chars = errors + wrong, chars + total
            results.append(
                {
                    "set": name,
                    "variant": variant,
                    "files": len(items),
                    "cer": round(errors / max(chars, 1), 4),
                    "repairs": repairs,
                    "ms_per_file": round(1000 * seconds / max(len(items), 1), 1),
                    "lexicon_terms": len(lexicon) if lexicon is not None else 0,
                }
            )
    table = Table(title="Sound-alike repair: CER on the same recognition")
    for column in ("set", "variant", "files", "lexicon terms", "CER", "repairs", "ms/file"):
        table.add_column(column, justify="left" if column in ("set", "variant") else "right")
    for row in results:
        table.add_row(
            row["set"],
            row["variant"],
            str(row["files"]),
            str(row["lexicon_terms"]),
            f"{row['cer']:.2%}",
            str(row["repairs"]),
            f"{row['ms_per_file']:.1f}",
        )
    out.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
