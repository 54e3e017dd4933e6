"""Related-ticket search (issue 17): finding the ticket a follow-up repeats on real data, and the index at scale.

Accuracy (`accuracy`): in the Haikou 12345 tickets, follow-ups quote the ticket they refer to ("工单号：2018…",
"工单编号", "政府单号", or a bare 14-digit number in brackets). Where the referred ticket is in the data, the pair is a
known repeat. All 4,788 tickets are imported (`CallRepository.add_records`, the path of `hotline import
tickets`), then each follow-up asks for related tickets (`related_to`, the product's windows and threshold) with
  - "number removed": its text without any long number (the quoted ticket number, phone or case numbers);
  - "own words only": also without every stretch of 8+ characters copied from the referred ticket (follow-ups
    paste the original request and its title): what is left is what the follow-up says itself, the nearest thing
    here to a caller describing the same matter again in other words.
recall@k: the referred ticket among the first k results. Random pairs: 20,000 pairs of distinct tickets, their
similarity against each threshold: the false-link rate (the data has unquoted repeats, so this is an upper bound).

Scale (`--sizes`): N tickets synthesised by resampling the real ones (a random real ticket, 1-3 characters
replaced by characters of another ticket, a clause dropped, a day of 2031 at random, a caller key from a pool
of N/5 callers, the source's place), imported in batches of 5,000: build time; then `--queries` searches of
perturbed texts at random moments: p50/p95 latency; database size on disk (SQLite: the file; the FTS5 index's
own pages) or PostgreSQL's relation sizes; the process's peak RSS. OMP_NUM_THREADS=1 on this 2-core machine.

    OMP_NUM_THREADS=1 .venv/bin/python bench/related.py [--sizes 100000,1000000] [--backend sqlite|postgresql]
        [--json bench/results/related.json]
"""

import argparse
import csv
import difflib
import json
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from extract.related import index_terms, similarity  # noqa: E402
from models.ticket_record import TicketRecord  # noqa: E402
from pipeline.service.database import create_db_engine, make_sessions, migrate  # noqa: E402
from pipeline.service.repository import CallRepository, RelatedOptions  # noqa: E402
from pipeline.service.repository.related import TOTAL  # noqa: E402
from pipeline.service.ticket_records import CsvColumns, TicketRecorder, read_ticket_csv  # noqa: E402
from pipeline.settings import RelatedSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
COLUMNS = CsvColumns(
    text="诉求内容",
    ticket_id="工单编号",
    time="工单编号",
    time_format="%Y%m%d",
    matter=("行业分类1级", "行业分类2级", "行业分类3级", "行业分类4级"),
    department="处置单位",
)
RECORDER = TicketRecorder(b"bench-secret")
QUOTED = re.compile(r"\d{11,14}")
LONG_NUMBER = re.compile(r"\d{7,}")
REFERENCE_WORDS = re.compile(r"(政府)?(工单|单)(编)?号\s*[:：]?")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)

out = Console(width=150)


def _defaults() -> RelatedOptions:
    settings = RelatedSettings()
    return RelatedOptions(
        caller_window_days=settings.caller_window_days,
        place_window_days=settings.place_window_days,
        matter_window_days=settings.matter_window_days,
        same_matter_threshold=settings.same_matter_threshold,
        max_results=settings.max_results,
    )


def own_words(follow_up: str, referred: str, min_copy: int = 8) -> str:
    """The follow-up without the stretches it copied from the referred ticket."""
    matcher = difflib.SequenceMatcher(None, follow_up, referred, autojunk=False)
    keep, position = [], 0
    for block in matcher.get_matching_blocks():
        if block.size >= min_copy:
            keep.append(follow_up[position : block.a])
            position = block.a + block.size
    keep.append(follow_up[position:])
    return "，".join(part for part in keep if part.strip())


def accuracy(data: Path, workdir: Path) -> dict:
    csv_file = data / "haikou12345" / "tickets.csv"
    with csv_file.open(encoding="utf-8") as handle:
        rows = {row["工单编号"]: row for row in csv.DictReader(handle)}
    engine = create_db_engine(f"sqlite:///{workdir / 'haikou.db'}")
    migrate(engine)
    repository = CallRepository(make_sessions(engine))
    repository.add_records(read_ticket_csv(csv_file, COLUMNS, RECORDER))
    pairs = sorted(
        {
            (ticket_id, number)
            for ticket_id, row in rows.items()
            for number in QUOTED.findall(row["诉求内容"])
            if number in rows and number != ticket_id
        }
    )
    options = _defaults()
    wide = RelatedOptions(**{**options.__dict__, "matter_window_days": 365, "caller_window_days": 365})
    result: dict = {"pairs": len(pairs), "tickets": len(rows), "threshold": options.same_matter_threshold}
    with repository.sessions() as session:
        counts = dict(session.execute(text("SELECT term, docs FROM ticket_terms")).all())
    total = counts[TOTAL]
    terms = {ticket_id: index_terms(row["诉求内容"]) for ticket_id, row in rows.items()}
    similarities: dict[str, list[float]] = {}
    for variant in ("number removed", "own words only"):
        for label, chosen in (("product windows", options), ("365-day windows", wide)):
            ranks, scores = [], []
            for follow_id, referred_id in pairs:
                body = rows[follow_id]["诉求内容"]
                if variant == "own words only":
                    body = own_words(body, rows[referred_id]["诉求内容"])
                body = REFERENCE_WORDS.sub("", LONG_NUMBER.sub("", body))
                query = repository.record(follow_id, "import")
                query = TicketRecord(**{**query.__dict__, "text": body, "place": "", "district": ""})
                found = repository.related_to(query, chosen)
                ids = [item.record.ticket_id for item in found]
                ranks.append(ids.index(referred_id) + 1 if referred_id in ids else None)
                scores.append(similarity(index_terms(body), terms[referred_id], counts, total))
            key = f"{variant} / {label}"
            result[key] = {
                "recall@1": sum(rank == 1 for rank in ranks) / len(pairs),
                "recall@5": sum(rank is not None and rank <= 5 for rank in ranks) / len(pairs),
                "same_matter": sum(score >= options.same_matter_threshold for score in scores) / len(pairs),
            }
            similarities[variant] = scores
    # random pairs: similarity of two distinct tickets, weights from the whole index
    ids = sorted(terms)
    rng = random.Random(0)
    random_scores = []
    for _ in range(20000):
        a, b = rng.sample(ids, 2)
        random_scores.append(similarity(terms[a], terms[b], counts, total))
    result["random_pairs"] = len(random_scores)
    result["thresholds"] = {
        f"{threshold:.1f}": {
            "false_link_rate": sum(score >= threshold for score in random_scores) / len(random_scores),
            "recall_number_removed": sum(s >= threshold for s in similarities["number removed"]) / len(pairs),
            "recall_own_words": sum(s >= threshold for s in similarities["own words only"]) / len(pairs),
        }
        for threshold in THRESHOLDS
    }
    engine.dispose()
    return result


def perturb(body: str, donor: str, rng: random.Random) -> str:
    """A near copy: a clause dropped (when there are several), 1-3 characters replaced by the donor's."""
    clauses = re.split(r"(?<=[，。；！？])", body)
    if len(clauses) > 2:
        del clauses[rng.randrange(len(clauses))]
    chars = list("".join(clauses))
    hanzi = [index for index, char in enumerate(chars) if "\u4e00" <= char <= "\u9fff"]
    donors = [char for char in donor if "\u4e00" <= char <= "\u9fff"] or ["的"]
    for index in rng.sample(hanzi, min(len(hanzi), rng.randint(1, 3))):
        chars[index] = rng.choice(donors)
    return "".join(chars)


def synthetic(base: list[TicketRecord], size: int, seed: int):
    rng = random.Random(seed)
    start = datetime(2031, 1, 1, tzinfo=UTC)
    callers = max(1, size // 5)
    for number in range(size):
        source = rng.choice(base)
        yield TicketRecord(
            ticket_id=f"S{number:08d}",
            source="import",
            created_at=start + timedelta(seconds=rng.randrange(365 * 86400)),
            text=perturb(source.text, rng.choice(base).text, rng),
            matter=source.matter,
            district=source.district,
            place=source.place,
            department=source.department,
            caller_key=f"{rng.randrange(callers):064x}",
        )


def progress(records, started: float, every: int = 100_000):
    """The records, a line on stderr every `every` of them: where a long build slows down."""
    last = started
    for count, record in enumerate(records, start=1):
        yield record
        if count % every == 0:
            now = time.perf_counter()
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            print(
                f"{count:>9,} records  {now - started:7.0f} s  last {every:,}: {every / (now - last):5.0f} /s  "
                f"bench cpu {cpu.ru_utime + cpu.ru_stime:6.0f} s  load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
            last = now


def open_backend(backend: str, workdir: Path, size: int, pg_database: str):
    if backend == "sqlite":
        path = workdir / f"scale-{size}.db"
        path.unlink(missing_ok=True)
        return create_db_engine(f"sqlite:///{path}"), path
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{pg_database}"'))
    admin.dispose()
    return create_db_engine(f"postgresql://postgres@127.0.0.1:5432/{pg_database}"), None


def drop_backend(backend: str, pg_database: str) -> None:
    if backend == "postgresql":
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)'))
        admin.dispose()


def sizes_on_disk(engine, path: Path | None) -> dict:
    with engine.connect() as connection:
        if path is not None:
            page = connection.execute(text("PRAGMA page_size")).scalar()
            fts = connection.execute(text("SELECT sum(length(block)) FROM ticket_text_index_data")).scalar() or 0
            return {"database_mb": path.stat().st_size / 2**20, "text_index_mb": fts / 2**20, "page_size": page}
        size = {
            name: connection.execute(text(f"SELECT pg_total_relation_size('{name}')")).scalar() / 2**20
            for name in ("ticket_records", "ticket_terms")
        }
        gin = connection.execute(text("SELECT pg_relation_size('ix_ticket_records_index_vector')")).scalar()
        return {"database_mb": sum(size.values()), "text_index_mb": gin / 2**20}


def search_latencies(repository, base: list[TicketRecord], size: int, queries: int) -> tuple[list[float], list[int]]:
    """`queries` searches of perturbed real texts at random moments of the year: their times (sorted), results."""
    rng = random.Random(1)
    options = _defaults()
    latencies, found = [], []
    start = datetime(2031, 1, 1, tzinfo=UTC)
    for _ in range(queries):
        source = rng.choice(base)
        query = TicketRecord(
            ticket_id="query",
            source="call",
            created_at=start + timedelta(seconds=rng.randrange(365 * 86400)),
            text=perturb(source.text, rng.choice(base).text, rng),
            matter="",
            district=source.district,
            place=source.place,
            department="",
            caller_key=f"{rng.randrange(max(1, size // 5)):064x}",
        )
        begun = time.perf_counter()
        results = repository.related_to(query, options)
        latencies.append(time.perf_counter() - begun)
        found.append(len(results))
    return sorted(latencies), found


def scale(
    data: Path, backend: str, size: int, queries: int, workdir: Path, pg_database: str, analyze: bool = False
) -> dict:
    base = list(read_ticket_csv(data / "haikou12345" / "tickets.csv", COLUMNS, RECORDER))
    engine, path = open_backend(backend, workdir, size, pg_database)
    migrate(engine)
    repository = CallRepository(make_sessions(engine))
    started = time.perf_counter()
    added, _ = repository.add_records(progress(synthetic(base, size, seed=size), started), batch=5000)
    build_s = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    latencies, found = search_latencies(repository, base, size, queries)
    result = {
        "backend": backend,
        "tickets": added,
        "build_s": build_s,
        "build_per_s": added / build_s,
        "search_p50_ms": 1000 * statistics.median(latencies),
        "search_p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "results_mean": statistics.mean(found),
        # the bench's own CPU during build and search: the rest of the build's wall time is the database's
        "bench_cpu_s": cpu.ru_utime + cpu.ru_stime,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **sizes_on_disk(engine, path),
    }
    if analyze:
        # the planner's statistics, as autovacuum makes them some time after an import: the same searches again
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            begun = time.perf_counter()
            connection.execute(text("ANALYZE"))
            result["analyze_s"] = time.perf_counter() - begun
        again, _ = search_latencies(repository, base, size, queries)
        result["analyzed_search_p50_ms"] = 1000 * statistics.median(again)
        result["analyzed_search_p95_ms"] = 1000 * again[int(0.95 * (len(again) - 1))]
    engine.dispose()
    drop_backend(backend, pg_database)
    if path is not None:
        path.unlink(missing_ok=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="100000", help="comma-separated synthetic index sizes (0: none)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--analyze", action="store_true", help="search again after ANALYZE (the planner's statistics)")
    parser.add_argument(
        "--pg-database", default="hotline_related_bench", help="the PostgreSQL database made and dropped for a size"
    )
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None, help="where the bench databases go (default: a temp)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "related.json")
    args = parser.parse_args()
    if not (args.data / "haikou12345" / "tickets.csv").is_file():
        out.print(f"skipped: no Haikou tickets under {args.data}")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    report: dict = {"command": " ".join(sys.argv), "omp_num_threads": os.environ["OMP_NUM_THREADS"]}
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        workdir = Path(folder)
        if not args.skip_accuracy:
            report["accuracy"] = accuracy(args.data, workdir)
            table = Table(title=f"Finding the referred ticket ({report['accuracy']['pairs']} known repeats)")
            for column in ("query", "recall@1", "recall@5", "called 同一事项"):
                table.add_column(column)
            for key, value in report["accuracy"].items():
                if isinstance(value, dict) and "recall@1" in value:
                    table.add_row(
                        key, f"{value['recall@1']:.2f}", f"{value['recall@5']:.2f}", f"{value['same_matter']:.2f}"
                    )
            out.print(table)
            table = Table(title=f"Threshold vs false links ({report['accuracy']['random_pairs']} random pairs)")
            for column in ("threshold", "false-link rate", "repeats called 同一事项 (number removed)", "(own words)"):
                table.add_column(column)
            for threshold, value in report["accuracy"]["thresholds"].items():
                table.add_row(
                    threshold,
                    f"{value['false_link_rate']:.4f}",
                    f"{value['recall_number_removed']:.2f}",
                    f"{value['recall_own_words']:.2f}",
                )
            out.print(table)
        report["scale"] = []
        for size in (int(size) for size in args.sizes.split(",") if int(size) > 0):
            report["scale"].append(
                scale(args.data, args.backend, size, args.queries, workdir, args.pg_database, args.analyze)
            )
            table = Table(title="Index at scale (synthetic tickets, one year)")
            for column in ("backend", "tickets", "build s", "per s", "p50 ms", "p95 ms", "db MB", "text index MB"):
                table.add_column(column)
            for row in report["scale"]:
                table.add_row(
                    row["backend"],
                    f"{row['tickets']:,}",
                    f"{row['build_s']:.0f}",
                    f"{row['build_per_s']:.0f}",
                    f"{row['search_p50_ms']:.1f}",
                    f"{row['search_p95_ms']:.1f}",
                    f"{row['database_mb']:.0f}",
                    f"{row['text_index_mb']:.0f}",
                )
            out.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.json.read_text()) if args.json.exists() else {}
    existing[args.backend if args.skip_accuracy else "haikou+" + args.backend] = report
    args.json.write_text(json.dumps(existing, ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
