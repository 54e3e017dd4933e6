"""`hotline extract`, `hotline train routing`, `hotline route` and `hotline eval tickets` through the CLI."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def gold_as_transcript(gold: dict) -> dict:
    """A transcript document (schema 1.x) with the gold turns of the demo call."""
    turns = [
        {
            "role": t["speaker"],
            "speaker": t["speaker"],
            "channel": None,
            "start": t["start"],
            "end": t["end"],
            "text": t["text"],
            "confidence": 1.0,
            "words": [],
        }
        for t in gold["turns"]
    ]
    return {
        "schema_version": "1.1",
        "call_id": gold["call_id"],
        "turns": turns,
        "metadata": {"started_at": gold["metadata"]["started_at"]},
    }


def test_extract_rereads_a_transcript_and_takes_the_ani_from_metadata(tmp_path):
    gold = json.loads((SAMPLES / "demo-call.json").read_text(encoding="utf-8"))
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(gold_as_transcript(gold), ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["extract", str(path), "--meta", str(SAMPLES / "demo-call.meta.json")])
    assert result.exit_code == 0, result.output
    ticket = json.loads(result.stdout)["ticket"]
    assert ticket["fields"]["phone"]["value"] == gold["fields"]["phone"]
    assert ticket["fields"]["district"]["value"] == gold["fields"]["district"]
    assert ticket["fields"]["caller_surname"]["value"] == gold["fields"]["caller_surname"]
    text = runner.invoke(app, ["extract", str(path), "--format", "text"])
    assert text.exit_code == 0 and "预填工单" in text.stdout and "处置单位 1" in text.stdout
    subtitles = runner.invoke(app, ["extract", str(path), "--format", "srt"])
    assert subtitles.exit_code == 2  # a usage error: a ticket has no subtitles, and --help offers json and text only


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "cannot read"),
        ("not json", "cannot read"),
        ('{"turns": "x"}', "'turns' must be a list"),
        ('{"turns": [{"text": "x"}]}', "turn 0"),
        ('{"schema_version": "2.0", "turns": []}', "unsupported"),
    ],
)
def test_extract_rejects_a_malformed_transcript_with_exit_3(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["extract", str(path)])
    assert result.exit_code == 3
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_extract_of_an_empty_transcript_is_an_empty_ticket_not_an_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text('{"call_id": "c1", "turns": []}', encoding="utf-8")
    result = runner.invoke(app, ["extract", str(path)])
    assert result.exit_code == 0
    ticket = json.loads(result.stdout)["ticket"]
    assert ticket["review"] == "manual" and ticket["warnings"][0]["code"] == "empty_transcript"


def write_history(path: Path) -> None:
    rows = []
    for index in range(12):
        rows.append(
            {"id": f"n{index}", "text": f"小区楼下工地晚上施工噪音扰民{index}号楼，请城管局核实处理", "unit": "城管局"}
        )
        rows.append(
            {"id": f"p{index}", "text": f"路口车辆乱停乱放堵住消防通道{index}，请交警核实处理", "unit": "交警支队"}
        )
        rows.append({"id": f"w{index}", "text": f"小区停水{index}天了水压很小没人管", "unit": "威立雅水务有限公司"})
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "unit"])
        writer.writeheader()
        writer.writerows(rows)


def test_train_routing_then_route_a_text_and_a_csv(tmp_path):
    history = tmp_path / "history.csv"
    write_history(history)
    ids = tmp_path / "ids.txt"
    ids.write_text("n0\np0\n", encoding="utf-8")
    model = tmp_path / "routing"
    result = runner.invoke(
        app,
        [
            "train",
            "routing",
            "--csv",
            str(history),
            "--text-column",
            "text",
            "--label-column",
            "unit",
            "--out",
            str(model),
            "--id-column",
            "id",
            "--test-ids",
            str(ids),
            "--no-embeddings",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "top-1" in result.stdout
    evaluation = json.loads((model / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["n"] >= 2 and evaluation["top1"] >= 0.6
    routed = runner.invoke(app, ["route", "--model", str(model), "--text", "工地半夜施工太吵了"])
    assert routed.exit_code == 0 and "城市管理行政执法局" in routed.stdout  # catalogue name for 城管局
    out = tmp_path / "pred.csv"
    routed = runner.invoke(
        app, ["route", "--model", str(model), "--csv", str(history), "--text-column", "text", "--out", str(out)]
    )
    assert routed.exit_code == 0, routed.output
    with out.open(encoding="utf-8") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 36 and predictions[0]["top1"] and float(predictions[0]["top1_score"]) > 0


def test_routing_commands_reject_bad_input(tmp_path):
    history = tmp_path / "history.csv"
    write_history(history)
    missing = runner.invoke(
        app,
        [
            "train",
            "routing",
            "--csv",
            str(history),
            "--text-column",
            "nope",
            "--label-column",
            "unit",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert missing.exit_code == 3 and "nope" in missing.stderr
    no_model = runner.invoke(app, ["route", "--model", str(tmp_path / "absent"), "--text", "x"])
    assert no_model.exit_code == 5
    both = runner.invoke(app, ["route", "--model", str(tmp_path), "--text", "x", "--csv", str(history)])
    assert both.exit_code == 3


def test_eval_tickets_on_the_shared_calls(shared_data, tmp_path):
    out = tmp_path / "tickets.json"
    result = runner.invoke(app, ["eval", "tickets", str(shared_data / "calls"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text(encoding="utf-8"))["summary"]["gold_text"]
    assert summary["calls"] == 24 and summary["phone"] >= 0.95 and summary["district"] >= 0.9
