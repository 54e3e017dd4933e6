"""Hot spots on the Haikou 12345 history: how many spikes the method flags week by week, at which levels, how
that moves with alpha, and how long a weekly brief takes to make (read the CSV, count, test, draw).

    hotline lexicon build --csv ../shared/data/haikou12345/tickets.csv --out /tmp/haikou-lexicon.tsv
    .venv/bin/python bench/reports.py --lexicon /tmp/haikou-lexicon.tsv [--json bench/results/reports.json]
        [--example docs/examples/weekly-haikou-2018-05-14.html --example-week 2018-05-14]
        [--screenshot docs/reports-page.png]

--example writes that week's brief (the committed example); --screenshot serves it from a throwaway data
directory and photographs /ui/reports.html in headless Chromium, logged in with a QA key.
"""

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from extract.lexicon import load_lexicon  # noqa: E402
from extract.places import PlaceFinder  # noqa: E402
from pipeline.reports import CsvTicketSource, SpikeOptions, analyse, build_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FIRST_WEEK, LAST_WEEK = date(2018, 1, 1), date(2018, 6, 25)
ALPHAS = (0.01, 0.001, 0.0001)
LEVELS = ("matter", "district_matter", "place_matter", "place")


def weekly_spikes(records, options: SpikeOptions) -> list[dict]:
    weeks, week = [], FIRST_WEEK
    while week <= LAST_WEEK:
        data = analyse(records, "weekly", week, week + timedelta(days=7), options)
        weeks.append(
            {
                "week": week.isoformat(),
                "tickets": data.total,
                "spikes": len(data.spikes),
                "levels": dict(Counter(spike.key.level for spike in data.spikes)),
                "top": [
                    {"series": s.key.label, "count": s.count, "expected": round(s.expected, 2), "p": s.p_value}
                    for s in data.spikes[:3]
                ],
            }
        )
        week += timedelta(days=7)
    return weeks


def screenshot(example: Path, out: Path) -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from api.main import create_app
    from pipeline.service.wiring import build_services
    from pipeline.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        (data_dir / "reports").mkdir()
        shutil.copy(example, data_dir / "reports" / example.name)
        services = build_services(Settings(_env_file=None, data_dir=data_dir, redis_url=None))
        _, key = services.keys.create("qa", "qa-screenshot")
        server = uvicorn.Server(uvicorn.Config(create_app(services=services), port=8917, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
                page.goto("http://127.0.0.1:8917/ui/index.html?next=reports.html")
                page.get_by_label("访问密钥").fill(key)
                page.get_by_role("button", name="登录", exact=True).click()
                page.locator(f'#reports-body tr[data-name="{example.name}"] button').click()
                frame = page.frame_locator("#report-frame")
                frame.get_by_role("heading", name="热点（异常升高）").scroll_into_view_if_needed()
                page.wait_for_timeout(500)
                page.screenshot(path=str(out))
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
            services.queue.stop()
            services.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=SHARED / "haikou12345" / "tickets.csv")
    parser.add_argument("--lexicon", type=Path, default=None, help="places to count (default: the bundled lexicon)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "reports.json")
    parser.add_argument("--example", type=Path, help="write this week's brief here")
    parser.add_argument("--example-week", type=date.fromisoformat, default=date(2018, 5, 14))
    parser.add_argument("--screenshot", type=Path, help="photograph the reports page showing the example")
    args = parser.parse_args()
    if not args.csv.is_file():
        sys.exit(f"no tickets at {args.csv} (../shared/data is not here)")
    console = Console()

    started = time.perf_counter()
    source = CsvTicketSource(args.csv, PlaceFinder(load_lexicon(args.lexicon)))
    records = list(source.records(datetime(2017, 1, 1), datetime(2019, 1, 1)))
    read_s = time.perf_counter() - started
    with_place = sum(1 for record in records if record.place)
    console.print(f"{len(records)} tickets read in {read_s:.2f} s; {with_place} name a place the lexicon knows")

    by_alpha = {}
    for alpha in ALPHAS:
        weeks = weekly_spikes(records, replace(SpikeOptions(), alpha=alpha))
        levels = Counter()
        for week in weeks:
            levels.update(week["levels"])
        by_alpha[alpha] = {"weeks": weeks, "spikes": sum(w["spikes"] for w in weeks), "levels": dict(levels)}

    table = Table(title=f"Spikes flagged per calendar week, {FIRST_WEEK} to {LAST_WEEK + timedelta(days=6)}")
    table.add_column("alpha", justify="right")
    table.add_column("weeks", justify="right")
    table.add_column("weeks with a spike", justify="right")
    table.add_column("spikes", justify="right")
    for level in LEVELS:
        table.add_column(level, justify="right")
    for alpha, result in by_alpha.items():
        weeks = result["weeks"]
        table.add_row(
            str(alpha),
            str(len(weeks)),
            str(sum(1 for w in weeks if w["spikes"])),
            str(result["spikes"]),
            *(str(result["levels"].get(level, 0)) for level in LEVELS),
        )
    console.print(table)

    default = by_alpha[SpikeOptions().alpha]
    weeks = Table(title=f"Weeks with spikes at the default alpha {SpikeOptions().alpha}")
    for column in ("week", "tickets", "series", "count", "expected", "p"):
        weeks.add_column(column, justify="left" if column in ("week", "series") else "right")
    for week in default["weeks"]:
        for top in week["top"]:
            weeks.add_row(
                week["week"],
                str(week["tickets"]),
                top["series"],
                str(top["count"]),
                str(top["expected"]),
                f"{top['p']:.1e}",
            )
    console.print(weeks)

    timings = []
    for _ in range(3):
        started = time.perf_counter()
        build_report(source, "weekly", args.example_week, args.example_week + timedelta(days=7), args.csv.name)
        timings.append(time.perf_counter() - started)
    console.print(f"weekly brief (read CSV + count + test + 5 charts): best of 3 {min(timings):.2f} s")

    if args.example:
        _, page = build_report(
            source,
            "weekly",
            args.example_week,
            args.example_week + timedelta(days=7),
            f"海口12345 工单（{args.csv.name}）",
        )
        last = args.example_week + timedelta(days=6)
        args.example.parent.mkdir(parents=True, exist_ok=True)
        named = args.example.with_name(f"weekly-{args.example_week.isoformat()}-{last.isoformat()}.html")
        named.write_text(page, encoding="utf-8")
        console.print(f"wrote {named} ({len(page) // 1024} KiB)")
        if args.screenshot:
            screenshot(named, args.screenshot)
            console.print(f"wrote {args.screenshot}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "csv": str(args.csv.name),
                "tickets": len(records),
                "with_place": with_place,
                "read_s": round(read_s, 3),
                "weekly_brief_s": round(min(timings), 3),
                "options": SpikeOptions().__dict__,
                "by_alpha": {str(alpha): result for alpha, result in by_alpha.items()},
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
