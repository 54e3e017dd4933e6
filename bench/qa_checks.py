"""QA's automatic service checks scored against the shared calls' gold: precision and recall of each check.

A check "passes" when it finds what the service norm asks for (a greeting, the callback number read back and
confirmed, ...). What each gold call really holds:

- `number_read_back`: the call has the `phone_readback` block (`fields_extra.optional_blocks`): the operator
  reads the caller's number back, or asks "is it the number you are calling from?" and the caller says yes.
- `summary_confirmed`: the call has the `confirm_summary` block ("跟您确认一下，您反映的是…，对吗？").
- `greeting`, `closing`, `no_forbidden_words`: every call greets with the hotline's name, ends with a closing,
  and says none of the forbidden phrases (the calls are made so), so these have positives only: their
  recall is what counts, their precision is 100% whenever they pass at all.

Positive = the check passes. Precision: of the calls a check passed, how many hold the act; recall: of the calls
holding it, how many the check passed (a miss is a false ✗ shown to the auditor). Scored on the gold turns
(what was said) and on our ASR transcripts of the same calls (what the page shows).

    .venv/bin/hotline process ../shared/data/calls --out /tmp/asr_base
    .venv/bin/python bench/qa_checks.py [--calls ../shared/data/calls] [--transcripts /tmp/asr_base]
        [--json bench/results/qa_checks.json]
"""

import argparse
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from extract.service_checks import LABELS, service_checks  # noqa: E402
from models import CallTranscript  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
# which optional block of a gold call says that the act a check looks for happened
BLOCK_OF_CHECK = {"number_read_back": "phone_readback", "summary_confirmed": "confirm_summary"}


def gold_truth(gold: dict) -> dict[str, bool]:
    """Whether each check should pass on this call."""
    blocks = set(gold["fields_extra"]["optional_blocks"])
    return {name: (BLOCK_OF_CHECK[name] in blocks if name in BLOCK_OF_CHECK else True) for name in LABELS}


def gold_transcript(gold: dict) -> CallTranscript:
    turns = [
        {"role": turn["speaker"], "speaker": turn["speaker"], "channel": 0, "start": turn["start"],
         "end": turn["end"], "text": turn["text"]}
        for turn in gold["turns"]
    ]
    return CallTranscript.from_dict({"call_id": gold["call_id"], "duration": gold["duration_s"], "turns": turns})


def score(outcomes: list[tuple[bool, bool]]) -> dict:
    """Counts, precision and recall from (truth, passed) pairs; None where undefined."""
    tp = sum(truth and passed for truth, passed in outcomes)
    fp = sum(passed and not truth for truth, passed in outcomes)
    fn = sum(truth and not passed for truth, passed in outcomes)
    tn = sum(not truth and not passed for truth, passed in outcomes)
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=Path, default=SHARED / "calls")
    parser.add_argument("--transcripts", type=Path, default=Path("/tmp/asr_base"), help="our ASR (<call_id>.json)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "qa_checks.json")
    args = parser.parse_args()
    if not args.calls.is_dir():
        print(f"skipped: no gold calls at {args.calls} (../shared/data is not here)")
        return

    golds = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(args.calls.glob("dev-*.json"))]
    sources = {"gold turns": {gold["call_id"]: gold_transcript(gold) for gold in golds}}
    if args.transcripts.is_dir():
        sources["our ASR"] = {
            gold["call_id"]: CallTranscript.from_dict(json.loads(path.read_text(encoding="utf-8")))
            for gold in golds
            if (path := args.transcripts / f"{gold['call_id']}.json").is_file()
        }
    else:
        print(f"no ASR transcripts at {args.transcripts}: gold turns only (make them with `hotline process`)")

    results: dict = {"calls": len(golds), "sources": {}}
    for source, transcripts in sources.items():
        outcomes: dict[str, list[tuple[bool, bool]]] = {name: [] for name in LABELS}
        misses: dict[str, list[str]] = {name: [] for name in LABELS}
        for gold in golds:
            transcript = transcripts.get(gold["call_id"])
            if transcript is None:
                continue
            checks = service_checks(transcript)
            for name, truth in gold_truth(gold).items():
                outcomes[name].append((truth, checks[name].passed))
                if truth != checks[name].passed:
                    misses[name].append(f"{gold['call_id']}:{'✗' if truth else '✓'}")
        results["sources"][source] = {
            "calls": len(transcripts),
            "checks": {name: {**score(pairs), "wrong": misses[name]} for name, pairs in outcomes.items()},
        }

    table = Table(title=f"QA automatic checks on {len(golds)} gold calls (positive = the check passes)")
    table.add_column("check")
    for source in results["sources"]:
        table.add_column(f"{source}: P", justify="right")
        table.add_column("R", justify="right")
        table.add_column("TP/FP/FN/TN", justify="right")
    for name in LABELS:
        row = [name]
        for source in results["sources"].values():
            counts = source["checks"][name]
            row += [percent(counts["precision"]), percent(counts["recall"]),
                    f"{counts['tp']}/{counts['fp']}/{counts['fn']}/{counts['tn']}"]
        table.add_row(*row)
    console = Console(width=160)
    console.print(table)
    for source, found in results["sources"].items():
        wrong = {name: counts["wrong"] for name, counts in found["checks"].items() if counts["wrong"]}
        if wrong:
            console.print(f"{source}, wrong verdicts (✗ = a false fail, ✓ = a false pass): {wrong}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
