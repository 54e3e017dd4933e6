"""Ticket evaluation metrics on a small gold folder written here: street, department coverage, review mix."""

import dataclasses
import json
from pathlib import Path

import pytest

from models import DepartmentSuggestion, Ticket, TicketField
from pipeline.ticket_evaluation import evaluate_tickets, gold_street_of, load_gold_tickets

GOLD_CALLS = [
    # (call id, address_text, department)
    ("g-1", "琼山区滨江街道社区服务中心", "市政设施管理中心"),
    ("g-2", "美兰区灵山镇农贸市场", "农贸市场服务中心"),
    ("g-3", "秀英区海秀中路12号", "供电局"),
]


def write_gold_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for call_id, address, department in GOLD_CALLS:
        gold = {
            "call_id": call_id,
            "duration_s": 10.0,
            "turns": [
                {"speaker": "agent", "start": 0.0, "end": 2.0, "text": "请问有什么可以帮您？"},
                {"speaker": "caller", "start": 2.5, "end": 6.0, "text": f"{address}的路灯不亮。"},
            ],
            "fields": {
                "caller_name": None,
                "caller_surname": "王",
                "phone": "13900005286",
                "address_text": address,
                "district": address[:3],
                "request_type": "反映",
                "department": department,
            },
            "metadata": {"caller_number": "13900005286", "started_at": "2018-01-13T16:52:54+08:00"},
        }
        (folder / f"{call_id}.json").write_text(json.dumps(gold, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("address", "street"),
    [
        ("琼山区滨江街道社区服务中心", "滨江街道"),
        ("美兰区灵山镇农贸市场", "灵山镇"),
        ("海南省海口市龙华区金贸街道金贸西路28-1号", "金贸街道"),
        ("秀英区海口火车站公交车站", None),  # no street or town named: the call is not scored on it
        ("海口市琼山区龙昆南路道客村村口", None),
        (None, None),
    ],
)
def test_the_gold_street_is_the_street_or_town_the_address_names_after_its_district(address, street):
    assert gold_street_of(address) == street


def _ticket(street: str | None, departments: list[str], review: str) -> Ticket:
    ticket = Ticket.empty()
    ticket.fields["street"] = TicketField(street, 0.9)
    ticket.department_suggestions = [DepartmentSuggestion(name, 0.5) for name in departments]
    ticket.review = review
    return ticket


def test_street_department_coverage_and_review_mix_per_source(tmp_path):
    golds = load_gold_tickets(write_gold_folder(tmp_path / "gold"))
    asr = {gold.call_id: dataclasses.replace(gold.turns_transcript, model="asr") for gold in golds}
    # what the extractor gives, by (call id, source: gold turns or ASR)
    tickets = {
        ("g-1", "gold"): _ticket("滨江街道办事处", ["市政设施管理中心"], "check"),
        ("g-2", "gold"): _ticket("灵山镇", ["环境卫生管理局", "农贸市场服务中心"], "auto"),
        ("g-3", "gold"): _ticket(None, ["供电局"], "check"),
        ("g-1", "asr"): _ticket(None, [], "manual"),
        ("g-2", "asr"): _ticket("灵山街道", ["农贸市场服务中心"], "check"),
        ("g-3", "asr"): _ticket("海秀街道", [], "manual"),
    }

    def extract(transcript, meta):
        return tickets[(transcript.call_id, "asr" if transcript.model == "asr" else "gold")]

    report = evaluate_tickets(golds, extract, asr)
    gold, ours = report.summary["gold_text"], report.summary["asr"]
    # street: only g-1 and g-2 name one; 滨江街道办事处 is 滨江街道, 灵山街道 is the renamed 灵山镇
    assert gold["street_calls"] == ours["street_calls"] == 2
    assert gold["street"] == 1.0 and ours["street"] == 0.5
    assert gold["department_any"] == 1.0 and ours["department_any"] == pytest.approx(0.333, abs=1e-3)
    assert gold["department_top1"] == pytest.approx(0.667, abs=1e-3) and gold["department_top3"] == 1.0
    assert ours["department_top1"] == pytest.approx(0.333, abs=1e-3)
    assert gold["review"] == {"auto": 1, "check": 2, "manual": 0}
    assert ours["review"] == {"auto": 0, "check": 1, "manual": 2}
    by_call = {(row.call_id, row.source): row for row in report.calls}
    assert by_call[("g-3", "asr")].street_correct is None and by_call[("g-3", "asr")].departments == 0
    assert by_call[("g-1", "gold_text")].predicted["street"] == "滨江街道办事处"
    json.dumps(report.to_dict(), ensure_ascii=False)


def test_eval_tickets_reports_our_asr_beside_the_gold_turns(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    gold_folder = write_gold_folder(tmp_path / "gold")
    transcripts = tmp_path / "asr"
    transcripts.mkdir()
    for path in gold_folder.glob("*.json"):
        gold = json.loads(path.read_text(encoding="utf-8"))
        # what our ASR made of it: the matter words lost in g-3
        heard = "秀英区海秀中路12号，嗯，那个，就这样。" if gold["call_id"] == "g-3" else None
        turns = [
            {**turn, "role": turn["speaker"], "channel": None, "confidence": 0.9, "words": []} for turn in gold["turns"]
        ]
        if heard:
            turns[-1]["text"] = heard
        document = {"schema_version": "1.1", "call_id": gold["call_id"], "turns": turns}
        # `process` names its output after the recording, not the call: matched by the call_id inside
        (transcripts / f"recording-{path.name}").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "tickets.json"
    result = CliRunner().invoke(
        app, ["eval", "tickets", str(gold_folder), "--transcripts", str(transcripts), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "our ASR" in line)
    assert header.index("our ASR") < header.index("gold turns")
    for label in ("street (2 calls name one)", "address char F1", "department top-3", "any department"):
        assert label in result.stdout
    summary = json.loads(out.read_text(encoding="utf-8"))["summary"]
    assert summary["gold_text"]["department_any"] == 1.0
    assert summary["asr"]["department_any"] == pytest.approx(0.667, abs=1e-3)
    assert summary["gold_text"]["street_calls"] == 2 and "street" in summary["asr"]
    assert sum(summary["asr"]["review"].values()) == 3
