"""A small ticket history the report tests write: eight quiet weeks, then a week with a planted spike."""

import csv
from datetime import date, timedelta
from pathlib import Path

from extract.lexicon import Lexicon, LexiconEntry

HEADER = ["工单编号", "行业分类1级", "行业分类2级", "行业分类3级", "行业分类4级", "诉求内容", "原处置单位", "处置单位"]
REPORT_WEEK = date(2018, 5, 14)  # a Monday
WATER = ("城乡建设", "供水", "停水", "")
NOISE = ("环境保护", "噪音", "施工噪音", "")
ROADS = ("社会管理", "道路", "路面破损", "")
SPIKE_COUNT = 8
PHONE, ID_NUMBER = "13812345678", "460100199001011234"


def lexicon() -> Lexicon:
    entries = [
        LexiconEntry(term="龙华区", kind="district", weight=1.0),
        LexiconEntry(term="美兰区", kind="district", weight=1.0),
        LexiconEntry(term="龙昆南路", kind="road", weight=0.9),
        LexiconEntry(term="金盘花园", kind="community", weight=0.9),
        LexiconEntry(term="海甸岛", kind="place", weight=0.9),
    ]
    return Lexicon(tuple(entries), "test", "海南省", "海口市")


def rows() -> list[list[str]]:
    """Per baseline week: one water ticket at 龙昆南路, three noise tickets (every week), one road ticket.
    The report week: SPIKE_COUNT water tickets at 龙昆南路 (one with a phone and an ID number), the usual noise."""
    made: list[list[str]] = []

    def add(day: date, serial: int, matter: tuple[str, ...], text: str, unit: str) -> None:
        made.append([f"{day:%Y%m%d}{serial:06d}", *matter, text, f"市{unit}", unit])

    for week in range(8, 0, -1):
        monday = REPORT_WEEK - timedelta(weeks=week)
        add(monday, 1, WATER, "市民来电反映：龙华区龙昆南路停水。", "水务局")
        for serial in range(2, 5):
            add(
                monday + timedelta(days=serial),
                serial,
                NOISE,
                "市民来电反映：美兰区金盘花园夜间施工噪音扰民。",
                "生态环境局",
            )
        add(monday + timedelta(days=5), 9, ROADS, "市民来电反映：海甸岛路面破损。", "住建局")
    for serial in range(SPIKE_COUNT):
        text = "市民来电反映：龙华区龙昆南路一带停水两天，无人处理。"
        if serial == 0:
            text = f"市民来电反映：龙华区龙昆南路停水，联系电话{PHONE}，身份证{ID_NUMBER}。"
        add(REPORT_WEEK + timedelta(days=serial % 7), 100 + serial, WATER, text, "水务局")
    for serial in range(3):
        add(
            REPORT_WEEK + timedelta(days=serial),
            200 + serial,
            NOISE,
            "市民来电反映：美兰区金盘花园施工噪音。",
            "生态环境局",
        )
    made.append(["不是日期", *WATER, "日期读不出的工单", "市水务局", "水务局"])
    return made


def write_tickets(path: Path, header: list[str] = HEADER) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(row[: len(header)] for row in rows())
    return path
