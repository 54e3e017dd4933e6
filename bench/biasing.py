"""Contextual biasing against sound-alike repair: which way of using the lexicon in recognition wins.

    .venv/bin/python bench/biasing.py --lexicon LEXICON.tsv --json bench/results/biasing.json [--limit N]

On the shared calls, from the same first pass (bench/repair.py's cached recognition, repair off):

- (a) repair: `extract.repair` on the first pass (what the pipeline does);
- (b) biasing: every turn in which the lexicon has candidates by sound (retrieval as in the repair, at a loose
  similarity of 0.6) is decoded again with those terms as Whisper's hot words (faster-whisper's `hotwords`,
  a prompt prefix), greedy with beam 5 as the pipeline decodes;
- (a)+(b): the repair on the biased recognition.

CER is pooled (pipeline.evaluation.char_errors against the gold turns); "extra decode s" is the time of the
biased decodes, beside the first pass's own transcription time from the transcripts, so the cost reads as a
ratio on this machine.
"""

import argparse
import copy
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

from asr.audio import load_audio  # noqa: E402
from asr.transcribe import load_whisper  # noqa: E402
from extract.lexicon import load_lexicon  # noqa: E402
from extract.phonetic import align, text_readings  # noqa: E402
from extract.repair import LexiconIndex, repair_turns  # noqa: E402
from models import CallTranscript  # noqa: E402
from pipeline.evaluation import char_errors, load_gold  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
out = Console(width=160)
LOOSE_SIMILARITY = 0.6
MAX_HOTWORDS = 8


def candidates(text: str, index: LexiconIndex) -> list[str]:
    """Lexicon terms that sound somewhat like something in the text, best first (for the hot words)."""
    readings = text_readings(text)
    scored = []
    for number in index.candidates(text):
        alignment = align(index.readings[number], readings)
        term = index.entries[number].term
        if alignment is not None and term not in text:
            similarity = alignment.similarity(len(term))
            if similarity >= LOOSE_SIMILARITY:
                scored.append((similarity, term))
    return [term for _, term in sorted(scored, reverse=True)[:MAX_HOTWORDS]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--transcripts", type=Path, default=ROOT / "bench" / "results" / "repair-asr")
    parser.add_argument("--lexicon", type=Path, default=None, help="default: the bundled lexicon")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "biasing.json")
    args = parser.parse_args()

    from pipeline.factory import build_engines
    from pipeline.settings import Settings

    transcriber = build_engines(Settings()).transcriber
    model = load_whisper(transcriber.config)
    options = transcriber._decode_options()
    lexicon = load_lexicon(args.lexicon)
    index = LexiconIndex(lexicon)
    golds = load_gold(args.data / "calls")[: args.limit or None]
    totals = {name: [0, 0] for name in ("first pass", "(a) repair", "(b) biasing", "(a)+(b)")}
    first_pass_s = extra_s = 0.0
    biased_turns = all_turns = 0
    for gold in golds:
        first = CallTranscript.from_dict(
            json.loads((args.transcripts / f"calls--{gold.call_id}.json").read_text(encoding="utf-8"))
        )
        first_pass_s += first.timings.get("transcribe", 0.0)
        audio = load_audio(gold.audio)
        biased = copy.deepcopy(first)
        for turn in biased.turns:
            all_turns += 1
            terms = candidates(turn.text, index)
            if not terms:
                continue
            biased_turns += 1
            samples = audio.channels[turn.channel if turn.channel is not None else 0]
            clip = samples[int(max(0.0, turn.start - 0.2) * 16000) : int((turn.end + 0.2) * 16000)]
            started = time.perf_counter()
            segments, _ = model.transcribe(clip, **{**options, "temperature": [0.0], "hotwords": " ".join(terms)})
            text = "".join(segment.text for segment in segments).strip()
            extra_s += time.perf_counter() - started
            if text:
                turn.text = text
                turn.words = []
        repaired, both = copy.deepcopy(first), copy.deepcopy(biased)
        repair_turns(repaired.turns, lexicon)
        repair_turns(both.turns, lexicon)
        per_call = []
        for name, transcript in (
            ("first pass", first),
            ("(a) repair", repaired),
            ("(b) biasing", biased),
            ("(a)+(b)", both),
        ):
            errors, chars = char_errors(gold.text, "".join(turn.text for turn in transcript.turns))
            totals[name][0] += errors
            totals[name][1] += chars
            per_call.append(f"{errors / max(chars, 1):.1%}")
        out.print(f"{gold.call_id} ({gold.format}): CER {' / '.join(per_call)}", highlight=False)

    rows = [
        {
            "variant": name,
            "calls": len(golds),
            "cer": round(errors / max(chars, 1), 4),
            "extra_decode_s": round(extra_s, 1) if "(b)" in name else 0.0,
            "first_pass_s": round(first_pass_s, 1),
        }
        for name, (errors, chars) in totals.items()
    ]
    table = Table(
        title=f"Lexicon in recognition: repair vs biasing ({len(golds)} calls, {lexicon.version or 'lexicon'})"
    )
    for column in ("variant", "CER", "extra decode s", "first pass s"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in rows:
        table.add_row(row["variant"], f"{row['cer']:.2%}", f"{row['extra_decode_s']:.1f}", f"{row['first_pass_s']:.1f}")
    out.print(table)
    out.print(f"turns decoded again with hot words: {biased_turns} of {all_turns}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
