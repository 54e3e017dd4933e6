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
(what was said) and on our ASR transcripts of the same calls (what the page shows). "Turn": of the checks
passed on both, how many link the auditor to the same moment (the first turn judged on our ASR overlaps in time
the one judged on the gold turns).

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
from pipeline.ticket_evaluation import load_gold_tickets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
# which optional block of a gold call says that the act a check looks for happened
BLOCK_OF_CHECK = {"number_read_back": "phone_readback", "summary_confirmed": "confirm_summary"}


def gold_truth(calls: Path, call_id: str) -> dict[str, bool]:
    """Whether each check should pass on this call."""
    gold = json.loads((calls / f"{call_id}.json").read_text(encoding="utf-8"))
    blocks = set(gold["fields_extra"]["optional_blocks"])
    return {name: (BLOCK_OF_CHECK[name] in blocks if name in BLOCK_OF_CHECK else True) for name in LABELS}


def score(outcomes: list[tuple[bool, bool]]) -> dict:
    """Counts, precision and recall from (truth, passed) pairs; None where undefined."""
    tp = sum(truth and passed for truth, passed in outcomes)
    fp = sum(passed and not truth for truth, passed in outcomes)
    fn = sum(truth and not passed for truth, passed in outcomes)
    tn = sum(not truth and not passed for truth, passed in outcomes)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
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

    golds = load_gold_tickets(args.calls)
    truths = {gold.call_id: gold_truth(args.calls, gold.call_id) for gold in golds}
    sources = {"gold turns": {gold.call_id: gold.turns_transcript for gold in golds}}
    if args.transcripts.is_dir():
        sources["our ASR"] = {
            gold.call_id: CallTranscript.from_dict(json.loads(path.read_text(encoding="utf-8")))
            for gold in golds
            if (path := args.transcripts / f"{gold.call_id}.json").is_file()
        }
    else:
        print(f"no ASR transcripts at {args.transcripts}: gold turns only (make them with `hotline process`)")

    results: dict = {"calls": len(golds), "sources": {}}
    verdicts = {source: {call_id: service_checks(transcript) for call_id, transcript in transcripts.items()}
                for source, transcripts in sources.items()}  # fmt: skip
    for source, by_call in verdicts.items():
        outcomes: dict[str, list[tuple[bool, bool]]] = {name: [] for name in LABELS}
        misses: dict[str, list[str]] = {name: [] for name in LABELS}
        same_turn: dict[str, list[bool]] = {name: [] for name in LABELS}
        for call_id, checks in by_call.items():
            for name, truth in truths[call_id].items():
                outcomes[name].append((truth, checks[name].passed))
                if truth != checks[name].passed:
                    misses[name].append(f"{call_id}:{'✗' if truth else '✓'}")
                on_gold = verdicts["gold turns"][call_id][name]
                if checks[name].passed and on_gold.passed and checks[name].turns and on_gold.turns:
                    mine, gold = checks[name].turns[0], on_gold.turns[0]
                    same_turn[name].append(mine.start < gold.end and gold.start < mine.end)
        results["sources"][source] = {
            "calls": len(by_call),
            "checks": {
                name: {
                    **score(pairs),
                    "wrong": misses[name],
                    "same_turn": sum(same_turn[name]),
                    "turns_compared": len(same_turn[name]),
                }
                for name, pairs in outcomes.items()
            },
        }

    table = Table(title=f"QA automatic checks on {len(golds)} gold calls (positive = the check passes)")
    table.add_column("check")
    for source in results["sources"]:
        table.add_column(f"{source}: P", justify="right")
        table.add_column("R", justify="right")
        table.add_column("TP/FP/FN/TN", justify="right")
        table.add_column("turn", justify="right")
    for name in LABELS:
        row = [name]
        for source in results["sources"].values():
            counts = source["checks"][name]
            row += [
                percent(counts["precision"]),
                percent(counts["recall"]),
                f"{counts['tp']}/{counts['fp']}/{counts['fn']}/{counts['tn']}",
                f"{counts['same_turn']}/{counts['turns_compared']}" if counts["turns_compared"] else "—",
            ]
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
