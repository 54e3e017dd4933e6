"""A report as one self-contained HTML file: tables, and charts drawn here by matplotlib as SVG.

Each chart is an `<img>` whose source is a `data:` URI of the SVG (text drawn as paths, so no font is needed
where it is read), and the page's only style is one `<style>` element (`STYLE`, allowed by its hash where the
service serves the file): the file opens the same from disk, from an e-mail or from the service, and loads
nothing from anywhere. matplotlib is used through its object API (no pyplot): no global state, safe in the
API's threads.
"""

import base64
import hashlib
import html
import io
import logging
import warnings
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from pipeline.reports.analysis import ReportData, Series, Spike

__all__ = ["STYLE", "STYLE_CSP_HASH", "render_html"]

logger = logging.getLogger(__name__)

TITLES = {"weekly": "一周热点", "monthly": "月度分析报告"}
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei")
"""Fonts with Chinese glyphs, first found wins (Debian: fonts-noto-cjk); without one the charts' labels are boxes."""
BLUE, GREY, RED = "#1f5fa8", "#b8c2cc", "#c0392b"

STYLE = """
body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 24px auto;
  max-width: 1080px; padding: 0 16px; color: #1c2733; line-height: 1.5; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; border-bottom: 2px solid #1f5fa8;
  padding-bottom: 4px; margin-top: 32px; } .period { color: #4a5a6a; margin-top: 0; }
.facts { display: flex; gap: 16px; flex-wrap: wrap; } .fact { border: 1px solid #d5dde5; border-radius: 6px;
  padding: 8px 16px; min-width: 140px; } .fact b { display: block; font-size: 24px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 14px; }
th, td { border-bottom: 1px solid #e1e6eb; padding: 4px 8px; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } .spike { color: #c0392b; font-weight: bold; }
img.chart { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.examples { margin: 0 0 8px 0; padding-left: 20px; color: #33414f; font-size: 13px; }
.method { font-size: 13px; color: #4a5a6a; }
"""
STYLE_CSP_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode() + "'"
"""The CSP source that lets the served report apply `STYLE` and no other style."""


def render_html(data: ReportData, source: str, generated_at: datetime | None = None) -> str:
    """The report page. `source` says where the tickets came from (shown under the title)."""
    generated_at = generated_at or datetime.now()
    last_day = data.end - timedelta(days=1)
    title = f"{TITLES[data.kind]} · {_day(data.start)}—{_day(last_day)}"
    charts = _Charts()
    parts = [
        "<!doctype html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(TITLES[data.kind])}</h1>",
        f'<p class="period">{_e(_day(data.start))} 至 {_e(_day(last_day))} · 来源：{_e(source)} · '
        f"生成于 {_e(generated_at.strftime('%Y-%m-%d %H:%M'))}</p>",
        _overview(data),
        "<h2>走势</h2>",
        charts.bins(data),
        charts.daily(data),
        _spikes(data, charts),
        _matters(data, charts),
        _rising(data),
        _places(data),
        _departments(data, charts),
        _method(data),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _change(now: int, before: int) -> str:
    if not before:
        return "—"
    return f"{(now - before) / before:+.0%}"


def _p(p_value: float | None) -> str:
    if p_value is None:
        return "—"
    return "<0.0001" if p_value < 1e-4 else f"{p_value:.4f}"


def _overview(data: ReportData) -> str:
    top = data.matters[0].key.matter if data.matters else "—"
    facts = [
        ("工单总量", str(data.total)),
        ("较上一周期", _change(data.total, data.previous_total)),
        ("异常升高", str(len(data.spikes))),
        ("聚集地点", str(len(data.places))),
        ("最多事项", top),
    ]
    items = "".join(f'<div class="fact">{_e(name)}<b>{_e(value)}</b></div>' for name, value in facts)
    return f'<h2>概览</h2><div class="facts">{items}</div>'


def _spikes(data: ReportData, charts: "_Charts") -> str:
    rows, examples = [], []
    for spike in data.spikes[:20]:
        rows.append(
            f"<tr><td>{_e(spike.key.label)}</td><td>{_e(_LEVELS[spike.key.level])}</td>"
            f"<td>{_e(spike.period_start.isoformat())}</td><td class='n spike'>{spike.count}</td>"
            f"<td class='n'>{spike.expected:.1f}</td><td class='n'>{_p(spike.p_value)}</td></tr>"
        )
    for spike in data.spikes[:6]:
        items = "".join(
            f"<li>{_e(example.created_at.date().isoformat())} {_e(example.ticket_id)}：{_e(example.text)}</li>"
            for example in spike.examples
        )
        examples.append(f"<h3>{_e(spike.key.label)}（{spike.count} 件，预期 {spike.expected:.1f}）</h3>")
        examples.append(f'<ul class="examples">{items}</ul>')
    if not rows:
        return "<h2>热点（异常升高）</h2><p>本期没有超出各自基线的事项或地点。</p>"
    table = (
        "<table><thead><tr><th>事项 / 地点</th><th>层级</th><th>周期起</th><th class='n'>工单</th>"
        "<th class='n'>预期</th><th class='n'>p 值</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    return "<h2>热点（异常升高）</h2>" + charts.spikes(data.spikes[:4], data) + table + "".join(examples)


_LEVELS = {"matter": "事项", "district_matter": "区 · 事项", "place_matter": "地点 · 事项", "place": "地点"}


def _series_table(rows: Sequence[Series], first: str) -> str:
    body = "".join(
        f"<tr><td>{_e(series.key.place or series.key.matter)}</td><td class='n'>{series.count}</td>"
        f"<td class='n'>{_expected(series)}</td><td class='n'>{_p(series.p_value)}</td></tr>"
        for series in rows
    )
    return (
        f"<table><thead><tr><th>{_e(first)}</th><th class='n'>工单</th><th class='n'>预期</th>"
        f"<th class='n'>p 值</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _expected(series: Series) -> str:
    return "—" if series.p_value is None else f"{series.expected:.1f}"  # untested: too little history


def _matters(data: ReportData, charts: "_Charts") -> str:
    if not data.matters:
        return "<h2>主要事项</h2><p>本期没有工单。</p>"
    return "<h2>主要事项</h2>" + charts.matters(data.matters[:10]) + _series_table(data.matters[:15], "事项")


def _rising(data: ReportData) -> str:
    rising = sorted(
        (s for s in data.matters if s.p_value is not None and s.count > s.expected),
        key=lambda s: (s.p_value, -s.count),
    )[:10]
    if not rising:
        return "<h2>上升事项</h2><p>没有高于基线的事项（或历史不足以比较）。</p>"
    return "<h2>上升事项</h2>" + _series_table(rising, "事项")


def _places(data: ReportData) -> str:
    if not data.places:
        return f"<h2>聚集地点</h2><p>没有地点在本期有 {data.options.min_count} 件以上工单。</p>"
    return "<h2>聚集地点</h2>" + _series_table(data.places[:15], "地点")


def _departments(data: ReportData, charts: "_Charts") -> str:
    if not data.departments:
        return ""
    body = "".join(
        f"<tr><td>{_e(unit)}</td><td class='n'>{count}</td><td class='n'>{count / data.total:.1%}</td>"
        f"<td class='n'>{previous}</td><td class='n'>{_e(_change(count, previous))}</td></tr>"
        for unit, count, previous in data.departments[:20]
    )
    return (
        "<h2>部门工单量</h2>"
        + charts.departments(data.departments[:12])
        + "<table><thead><tr><th>承办单位</th><th class='n'>工单</th><th class='n'>占比</th>"
        f"<th class='n'>上一周期</th><th class='n'>变化</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _method(data: ReportData) -> str:
    o = data.options
    skipped = f" 来源中有 {data.skipped} 条记录无法读取日期，未计入。" if data.skipped else ""
    return (
        '<h2>方法</h2><p class="method">'
        f"按 {o.period_days} 天为一个周期计数（事项取分类前 {o.matter_depth} 级），"
        "每个序列（事项、区×事项、地点×事项、地点）"
        f"与其自身前 {o.baseline_periods} 个周期的均值比较（均值下限 {o.min_rate}，"
        f"至少 {o.min_history} 个周期的历史）；工单数不少于 {o.min_count} 且在基线下出现该数量或更多的概率低于 "
        f"{o.alpha}（泊松分布，基线方差大于均值时用负二项分布）记为异常升高。示例工单中的电话和身份证号码已遮蔽。{_e(skipped)}</p>"
    )


class _Charts:
    """The report's charts as `<img>` tags; matplotlib is imported on first use."""

    def __init__(self):
        from matplotlib import font_manager

        installed = {font.name for font in font_manager.fontManager.ttflist}
        self.font = next((name for name in CJK_FONTS if name in installed), None)
        if self.font is None:
            logger.warning("no Chinese font found (%s): chart labels will show boxes", ", ".join(CJK_FONTS))

    def _figure(self, width: float, height: float):
        from matplotlib.figure import Figure

        return Figure(figsize=(width, height), dpi=100, layout="constrained")

    def _img(self, figure, alt: str) -> str:
        """The figure as an `<img>`: SVG with text as paths, no date in it (same report, same bytes)."""
        buffer = io.BytesIO()
        with self._font(), warnings.catch_warnings():
            if self.font is None:
                warnings.filterwarnings("ignore", message="Glyph .* missing")
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        return f'<img class="chart" alt="{_e(alt)}" src="data:image/svg+xml;base64,{encoded}">'

    def _font(self):
        """matplotlib's settings for drawing (a text takes its font when made) and for saving."""
        from matplotlib import rc_context

        family = [self.font, "DejaVu Sans"] if self.font else ["DejaVu Sans"]
        return rc_context({"font.family": family, "svg.fonttype": "path", "svg.hashsalt": "hotline-report"})

    def bins(self, data: ReportData) -> str:
        with self._font():
            figure = self._figure(10, 2.6)
            axes = figure.add_subplot()
            labels = [day.strftime("%m-%d") for day in data.bins]
            colours = [BLUE if index >= data.first_report_bin else GREY for index in range(len(data.bins))]
            axes.bar(labels, data.bin_totals, color=colours)
            axes.set_title(f"每 {data.options.period_days} 天工单量（灰：基线周期，蓝：本期）")
            axes.tick_params(axis="x", labelsize=8)
            _tidy(axes)
        return self._img(figure, "每周期工单量走势")

    def daily(self, data: ReportData) -> str:
        if len(data.daily) < 2:
            return ""
        with self._font():
            figure = self._figure(10, 2.4)
            axes = figure.add_subplot()
            axes.bar([day.strftime("%m-%d") for day, _ in data.daily], [count for _, count in data.daily], color=BLUE)
            axes.set_title("本期每日工单量")
            axes.tick_params(axis="x", labelsize=8, rotation=90 if len(data.daily) > 14 else 0)
            _tidy(axes)
        return self._img(figure, "本期每日工单量")

    def matters(self, matters: Sequence[Series]) -> str:
        with self._font():
            figure = self._figure(10, 0.35 * len(matters) + 1)
            axes = figure.add_subplot()
            names = [_short(series.key.matter) for series in reversed(matters)]
            axes.barh(names, [series.count for series in reversed(matters)], color=BLUE, label="本期")
            axes.scatter(
                [series.expected for series in reversed(matters)], names, color=RED, marker="|", s=200, label="预期"
            )
            axes.legend(loc="lower right", fontsize=8)
            axes.set_title("主要事项：本期工单与预期")
            _tidy(axes)
        return self._img(figure, "主要事项工单量与预期")

    def spikes(self, spikes: Sequence[Spike], data: ReportData) -> str:
        if not spikes:
            return ""
        with self._font():
            columns = min(2, len(spikes))
            rows = -(-len(spikes) // columns)
            figure = self._figure(5 * columns, 2.4 * rows)
            for position, spike in enumerate(spikes, 1):
                axes = figure.add_subplot(rows, columns, position)
                history = spike.history[-(data.options.baseline_periods + 1) :]
                colours = [GREY] * (len(history) - 1) + [RED]
                axes.bar(range(len(history)), history, color=colours)
                axes.axhline(spike.expected, color=BLUE, linestyle="--", linewidth=1)
                axes.set_title(_short(spike.key.label, 26), fontsize=9)
                axes.set_xticks([])
                _tidy(axes)
        return self._img(figure, "异常升高的序列：前几个周期（灰）与本周期（红），虚线为预期")

    def departments(self, departments: Sequence[tuple[str, int, int]]) -> str:
        with self._font():
            figure = self._figure(10, 0.35 * len(departments) + 1)
            axes = figure.add_subplot()
            rows = list(reversed(departments))
            axes.barh([_short(unit) for unit, _, _ in rows], [count for _, count, _ in rows], color=BLUE)
            axes.set_title("部门工单量")
            _tidy(axes)
        return self._img(figure, "部门工单量")


def _short(text: str, limit: int = 22) -> str:
    """A chart label: cut to `limit` characters, its dollar signs escaped (matplotlib reads $…$ as math)."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return short.replace("$", r"\$")


def _tidy(axes) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
