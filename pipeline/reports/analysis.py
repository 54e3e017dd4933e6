"""Hot spots: tickets counted by matter x place x time, and counts that stand out against their own series.

Method (docs/REPORTS.md). Tickets are counted in bins of `SpikeOptions.period_days` days (a week by default)
for four kinds of series: each matter (the taxonomy cut at `matter_depth` levels), each matter in each
district, each matter at each place, and each place whatever the matter. A bin's count is tested against the
same series' previous `baseline_periods` bins: their mean is the expected count (never below `min_rate`, so
that a series that was silent does not flag its first ticket), and the count is a spike when it is at least
`min_count` and the chance of a count that high under the baseline is below `alpha`. That chance is Poisson's,
or, when the baseline bins vary more than Poisson allows (variance above the mean), a negative binomial's with
the baseline's own variance, so that a series that always swings does not flag its ordinary swings.

Weekly bins are calendar weeks (Monday to Sunday); a monthly report tests every week that overlaps the month,
whole, the days before the month included in its first. Bins before the source's first ticket are not
history: a series is tested only once the source covers `min_history` bins before it. A short last bin is
compared with an expectation scaled to its days.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import fmean, variance

from extract.masking import mask_numbers
from models.ticket_record import TicketRecord

__all__ = [
    "CountRow",
    "Example",
    "ReportData",
    "Series",
    "SeriesKey",
    "Spike",
    "SpikeOptions",
    "analyse",
    "check_period",
    "count_table",
    "matter_at",
    "tail_probability",
]

REPORT_KINDS = ("weekly", "monthly")
FIRST_DAY, LAST_DAY = date(1971, 1, 1), date(2099, 12, 31)
"""Reports cover days in this range: with their baseline weeks before, their times still convert to UTC."""
MAX_REPORT_DAYS = 366


def check_period(kind: str, start: date, last_day: date) -> None:
    """ValueError, saying what is wrong, unless `kind` is a report kind and [start, last_day] a period a report
    may cover: in order, at most a year, between FIRST_DAY and LAST_DAY."""
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}; one of {', '.join(REPORT_KINDS)}")
    if last_day < start:
        raise ValueError("the period ends before it starts")
    if (last_day - start).days >= MAX_REPORT_DAYS:
        raise ValueError(f"a report covers at most {MAX_REPORT_DAYS} days")
    if start < FIRST_DAY or last_day > LAST_DAY:
        raise ValueError(f"a report covers days from {FIRST_DAY} to {LAST_DAY}")


@dataclass(frozen=True)
class SpikeOptions:
    """The spike test's knobs; the defaults are what docs/REPORTS.md shows on the Haikou history."""

    period_days: int = 7
    """Bin width in days: 7 (weeks from the report's first day) or 1 (days)."""
    baseline_periods: int = 8
    """How many bins before the tested one make its baseline."""
    min_history: int = 4
    """A series is tested only when the source covers at least this many of those bins."""
    min_count: int = 3
    """A bin with fewer tickets is never a spike, however quiet the series was."""
    min_rate: float = 0.5
    """Floor of the expected count per bin: a series with no ticket in its baseline expects this many."""
    alpha: float = 0.001
    """A count is a spike when P(X >= count) under the baseline is below this (many series are tested)."""
    matter_depth: int = 2
    """Taxonomy levels a matter is counted at (城市管理（事件类）/交通管理 at 2)."""
    examples: int = 3
    """Example tickets shown per spike."""


@dataclass(frozen=True, order=True)
class SeriesKey:
    """One series: "" in a part means any (matter "" and place "龙昆南路": every matter at that place)."""

    matter: str = ""
    district: str = ""
    place: str = ""

    @property
    def label(self) -> str:
        return " · ".join(part for part in (self.district, self.place, self.matter) if part) or "全部"

    @property
    def level(self) -> str:
        if self.place:
            return "place_matter" if self.matter else "place"
        return "district_matter" if self.district else "matter"


@dataclass(frozen=True)
class Example:
    """A ticket shown as an example, its numbers masked (extract.masking)."""

    ticket_id: str
    created_at: datetime
    text: str


@dataclass(frozen=True)
class Series:
    """One series' bins in the report and the test of its last bin in the report."""

    key: SeriesKey
    count: int  # in the report's period
    expected: float  # in the report's period, from each bin's baseline (0 where untested)
    p_value: float | None  # of the most unusual bin in the period, None when untested
    history: tuple[int, ...]  # counts per bin, baseline bins then the report's


@dataclass(frozen=True)
class Spike:
    key: SeriesKey
    period_start: date
    count: int
    expected: float
    p_value: float
    history: tuple[int, ...]  # the series per bin up to and with the spike's bin
    examples: tuple[Example, ...] = ()

    @property
    def ratio(self) -> float:
        return self.count / self.expected if self.expected else float("inf")


@dataclass(frozen=True)
class CountRow:
    period_start: date
    matter: str
    district: str
    place: str
    count: int


@dataclass
class ReportData:
    """Everything a report shows; `render.render_html` draws it."""

    kind: str
    start: date
    end: date  # exclusive
    options: SpikeOptions
    total: int
    previous_total: int  # the period of the same length just before
    daily: list[tuple[date, int]]
    bins: list[date]  # each bin's first day, baseline bins then the report's
    bin_totals: list[int]
    first_report_bin: int  # index in `bins` of the report's first bin
    matters: list[Series]  # every matter with tickets in the period, most first
    places: list[Series]  # places with at least min_count tickets in the period, most first
    departments: list[tuple[str, int, int]]  # unit, count, count in the previous period; most first
    spikes: list[Spike] = field(default_factory=list)  # most unusual first
    skipped: int = 0  # records the source could not read


def matter_at(matter: str, depth: int) -> str:
    return "/".join(matter.split("/")[:depth]) if matter else ""


def tail_probability(count: int, mean: float, var: float | None) -> float:
    """P(X >= count) for a count with this mean: Poisson, or negative binomial when `var` exceeds the mean."""
    from scipy import stats  # deferred: loading scipy.stats takes a second the API's start-up need not pay

    if count <= 0:
        return 1.0
    if var is not None and var > mean > 0:
        size = mean * mean / (var - mean)
        return float(stats.nbinom.sf(count - 1, size, size / (size + mean)))
    return float(stats.poisson.sf(count - 1, mean))


def _keys(record: TicketRecord, depth: int) -> list[SeriesKey]:
    matter = matter_at(record.matter, depth) or "（未分类）"
    keys = [SeriesKey(matter=matter)]
    if record.district:
        keys.append(SeriesKey(matter=matter, district=record.district))
    if record.place:
        keys.append(SeriesKey(matter=matter, place=record.place))
        keys.append(SeriesKey(place=record.place))
    return keys


def _mask(text: str, limit: int = 140) -> str:
    masked = mask_numbers(" ".join(text.split()))
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def first_bin_start(start: date, period_days: int) -> date:
    """Weeks are calendar weeks (Monday to Sunday), as the hotline's own briefs count them: the first bin of a
    period starts on the Monday on or before its first day. Other widths start on the first day."""
    return start - timedelta(days=start.weekday()) if period_days == 7 else start


def report_window(start: date, end: date, options: SpikeOptions) -> tuple[datetime, datetime]:
    """The records an analysis of [start, end) needs: its baseline bins and the period of the same length before
    it (whichever reaches further back), and the period."""
    baseline = first_bin_start(start, options.period_days) - timedelta(
        days=options.period_days * options.baseline_periods
    )
    first = min(baseline, start - (end - start))
    return datetime.combine(first, datetime.min.time()), datetime.combine(end, datetime.min.time())


def analyse(
    records: Iterable[TicketRecord], kind: str, start: date, end: date, options: SpikeOptions | None = None
) -> ReportData:
    """Counts and spikes for the period [start, end), from records that cover `report_window` (others ignored)."""
    check_period(kind, start, end - timedelta(days=1))
    options = options or SpikeOptions()
    width = options.period_days
    aligned = first_bin_start(start, width)
    first_day = aligned - timedelta(days=width * options.baseline_periods)
    period_days = (end - start).days
    n_bins = options.baseline_periods + -(-(end - aligned).days // width)
    bins = [first_day + timedelta(days=width * index) for index in range(n_bins)]
    bin_days = [min(width, (end - day).days) for day in bins]
    # the share of each bin's days inside the period: what of its expectation the period's own count faces
    in_period_share = [
        max(0, (min(end, day + timedelta(days=width)) - max(start, day)).days) / days
        for day, days in zip(bins, bin_days, strict=True)
    ]
    previous_start = start - timedelta(days=period_days)

    counts: dict[SeriesKey, list[int]] = defaultdict(lambda: [0] * n_bins)
    totals = [0] * n_bins
    daily: Counter = Counter()
    in_period: Counter = Counter()  # per series, the tickets in [start, end) (a first week may begin before)
    departments: Counter = Counter()
    previous_departments: Counter = Counter()
    previous_total = 0
    members: dict[tuple[SeriesKey, int], list[TicketRecord]] = defaultdict(list)
    first_seen: date | None = None
    for record in records:
        day = record.created_at.date()
        if day >= end:
            continue
        if previous_start <= day < start:
            previous_total += 1
            previous_departments[record.department or "（未派单）"] += 1
        if day < first_day:
            continue
        first_seen = day if first_seen is None else min(first_seen, day)
        index = (day - first_day).days // width
        totals[index] += 1
        keys = _keys(record, options.matter_depth)
        for key in keys:
            counts[key][index] += 1
        if day >= start:
            daily[day] += 1
            for key in keys:
                in_period[key] += 1
            departments[record.department or "（未派单）"] += 1
            for key in keys:
                if len(members[key, index]) < 50:  # enough to pick examples from
                    members[key, index].append(record)

    covered_from = (first_seen - first_day).days // width if first_seen else n_bins
    report_bins = range(options.baseline_periods, n_bins)
    series: list[Series] = []
    spikes: list[Spike] = []
    for key, row in counts.items():
        count = in_period[key]
        if count == 0:
            continue
        expected, best_p = 0.0, None
        for index in report_bins:
            baseline = row[max(covered_from, index - options.baseline_periods) : index]
            if len(baseline) < options.min_history:
                continue
            scale = bin_days[index] / width
            mean = max(fmean(baseline), options.min_rate)
            var = variance(baseline) if len(baseline) > 1 else None
            mean_here = mean * scale
            var_here = var * scale if var is not None else None
            p_value = tail_probability(row[index], mean_here, var_here)
            expected += mean_here * in_period_share[index]
            best_p = p_value if best_p is None else min(best_p, p_value)
            if row[index] >= options.min_count and p_value < options.alpha:
                examples = tuple(
                    Example(record.ticket_id, record.created_at, _mask(record.text))
                    for record in sorted(members[key, index], key=lambda r: (r.created_at, r.ticket_id))[
                        : options.examples
                    ]
                )
                history = tuple(row[: index + 1])
                spikes.append(Spike(key, bins[index], row[index], mean_here, p_value, history, examples))
        series.append(Series(key, count, expected, best_p, tuple(row)))

    matters = sorted((s for s in series if s.key.level == "matter"), key=lambda s: (-s.count, s.key))
    places = sorted(
        (s for s in series if s.key.level == "place" and s.count >= options.min_count), key=lambda s: (-s.count, s.key)
    )
    spikes.sort(key=lambda spike: (spike.p_value, -spike.count, spike.key))
    return ReportData(
        kind=kind,
        start=start,
        end=end,
        options=options,
        total=sum(daily.values()),
        previous_total=previous_total,
        daily=[(day, daily[day]) for day in (start + timedelta(days=offset) for offset in range(period_days))],
        bins=bins,
        bin_totals=totals,
        first_report_bin=options.baseline_periods,
        matters=matters,
        places=places,
        departments=[(unit, count, previous_departments[unit]) for unit, count in departments.most_common()],
        spikes=spikes,
    )


def count_table(
    records: Iterable[TicketRecord], start: date, end: date, period_days: int = 7, matter_depth: int = 2
) -> list[CountRow]:
    """Tickets in [start, end) by bin (of `period_days` from `start`) x matter x district x place."""
    counts: Counter = Counter()
    for record in records:
        day = record.created_at.date()
        if not start <= day < end:
            continue
        bin_start = start + timedelta(days=(day - start).days // period_days * period_days)
        counts[bin_start, matter_at(record.matter, matter_depth), record.district, record.place] += 1
    return [CountRow(*key, count) for key, count in sorted(counts.items())]
