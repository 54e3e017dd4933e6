"""Knowledge-base retrieval cut-off: precision and recall of `KnowledgeBase.search` over score thresholds.

The dev queries are our own caller-style sentences, written for this check and not copied from the
KB's questions: about half are consultations some entry answers (with the id that should come first),
half are not (complaints to dispatch, emergencies, consultations the KB does not cover). A query
counts as correct when its top result above the threshold is the expected entry, or when an
unanswerable query gets nothing.

    .venv/bin/python bench/kb.py [--json bench/results/kb.json]
"""

import argparse
import json
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from extract.kb import DEFAULT_MIN_SCORE, KnowledgeBase  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

ANSWERABLE = [
    ("喂你好，我那个社保卡不知道掉哪里去了，要怎么重新弄一张", "social-card-replace"),
    ("我刚来这边上班，想问下社保卡要到哪里去办", "social-card-apply"),
    ("我是开出租车的，没有单位，养老保险我自己能交吗", "pension-flexible-employment"),
    ("我妈每年都要做那个领退休金的认证，她不会用手机怎么办", "pension-certification"),
    ("我爸明年到六十了，他交了十几年社保，能不能领退休金", "retirement-pension-claim"),
    ("我从外省换到这里工作了，原来交的养老保险能转过来吗", "social-insurance-transfer"),
    ("公司把我裁了，我能不能去领失业金啊", "unemployment-benefit"),
    ("我要带老人去北京做手术，医保那边要先办什么手续才能报", "medical-offsite-filing"),
    ("我儿子上个月刚生的，他的医保怎么给他办", "newborn-medical-insurance"),
    ("我在外面租房子住，公积金能不能取出来交房租", "housing-fund-withdrawal"),
    ("我是外地的，在这边打工两年了，想办个居住证要带什么", "residence-permit"),
    ("我身份证掉了，户口又不在这边，在这里能补吗", "id-card-replace"),
    ("我的驾照下个月就到期了，要怎么去换", "driving-licence-renewal"),
    ("我刚买了个电瓶车，要去哪里上牌照", "ebike-registration"),
    ("今年的个税退税要怎么操作，在哪里申请", "individual-income-tax-annual"),
    ("我们家就我一个人，没工作又有病，能不能申请低保", "minimum-living-allowance"),
    ("我奶奶今年八十五了，听说有高龄补贴，去哪里领", "elderly-allowance"),
    ("刚才坐出租车把手机忘在车上了，能帮我找一下吗", "taxi-lost-property"),
    ("我上个礼拜打电话反映的那个事情到现在也没人给我回复", "hotline-progress"),
    ("孩子今年九月要上一年级了，报名要准备哪些材料", "school-enrolment"),
    # a complaint too, but the entry on how to pursue unpaid wages is what the operator tells the caller
    ("老板已经拖了我们三个月的工资了，一分钱都不给", "wage-arrears-rights"),
]

UNANSWERABLE = [
    "我家楼下那个烧烤店每天晚上吵到两三点，根本没法睡觉",
    "我们小区门口有个井盖不见了，晚上很危险，赶紧派人来看看",
    "从昨天晚上开始我们整栋楼都没有水了",
    "楼上天天往下扔垃圾，物业也不管",
    "那个出租车司机不打表，还绕路多收了我三十块钱",
    "工地晚上十二点还在打桩，吵死了",
    "我们这条路的路灯坏了一个多月了都没人修",
    "隔壁小区的垃圾堆了好几天没人清，臭得不行",
    "我在超市买的牛奶过期了，他们不给退",
    "我们小区的电梯又坏了，老人上不了楼",
    "我家门口被人乱停车，车都开不出去",
    "厨房里有一股很浓的煤气味",
    "这个公交车司机到站不停车，我等了半个多小时",
    "我要表扬一下你们那个社区的王书记，帮了我们很大的忙",
    "建议在我们村口装一个红绿灯，车太快了",
    "请问一下今年国庆节放几天假",
    "附近那个化工厂天天排黑烟，味道很刺鼻",
    "我们这边停电了，什么时候能来电",
    "邻居家的狗天天叫，还不拴绳",
    "我想举报有人在河边非法采砂",
]


def evaluate(kb: KnowledgeBase, thresholds: list[float]) -> tuple[list[dict], list[dict]]:
    """Score every dev query once, then compare each threshold on the cached top results."""
    queries = [(text, expected) for text, expected in ANSWERABLE] + [(text, None) for text in UNANSWERABLE]
    tops = []
    for text, expected in queries:
        results = kb.search(text, k=1, min_score=-1.0)
        top = results[0] if results else None
        tops.append(
            {
                "query": text,
                "expected": expected,
                "top": top.entry_id if top else None,
                "score": top.score if top else None,
            }
        )
    rows = []
    for threshold in thresholds:
        returned = correct_returned = answerable_hits = 0
        for item in tops:
            shown = item["score"] is not None and item["score"] >= threshold
            if shown:
                returned += 1
                if item["top"] == item["expected"]:
                    correct_returned += 1
                    answerable_hits += 1
        precision = correct_returned / returned if returned else 1.0
        recall = answerable_hits / len(ANSWERABLE)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        false_positives = sum(
            1 for item in tops if item["expected"] is None and item["score"] is not None and item["score"] >= threshold
        )
        rows.append(
            {
                "threshold": round(threshold, 3),
                "precision": round(precision, 3),
                "recall": round(recall, 3),
                "f1": round(f1, 3),
                "shown": returned,
                "unanswerable_shown": false_positives,
            }
        )
    return rows, tops


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "kb.json")
    args = parser.parse_args()
    started = time.perf_counter()
    kb = KnowledgeBase.load()
    thresholds = [float(value) for value in np.round(np.arange(0.85, 0.9301, 0.005), 3)]
    rows, tops = evaluate(kb, thresholds)
    elapsed = time.perf_counter() - started

    console = Console()
    table = Table(title=f"KB search on {len(ANSWERABLE)} answerable + {len(UNANSWERABLE)} unanswerable dev queries")
    for column in ("threshold", "precision", "recall", "F1", "shown", "unanswerable shown"):
        table.add_column(column, justify="right")
    for row in rows:
        marker = " *" if abs(row["threshold"] - DEFAULT_MIN_SCORE) < 1e-9 else ""
        table.add_row(
            f"{row['threshold']:.3f}{marker}",
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["shown"]),
            str(row["unanswerable_shown"]),
        )
    console.print(table)
    console.print(f"* = DEFAULT_MIN_SCORE; {len(kb.entries)} entries, {elapsed:.1f} s including the embeddings")
    misses = [item for item in tops if item["expected"] and item["top"] != item["expected"]]
    for item in misses:
        console.print(f"top-1 wrong: {item['query']} → {item['top']} ({item['score']}), expected {item['expected']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"default_min_score": DEFAULT_MIN_SCORE, "thresholds": rows, "queries": tops}, ensure_ascii=False, indent=2
        )
        + "\n",
        encoding="utf-8",
    )
    console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
