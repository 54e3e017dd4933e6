"""`hotline train routing` with its auto-dispatch threshold, `hotline eval routing` on both splits, and retraining
from operators' corrections (`--from-corrections`) end to end on a small set written here."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extract.routing import MANIFEST_FILE, MODEL_FILE, RoutingModel
from pipeline.cli import app
from pipeline.service.corrections import CORRECTION_COLUMNS

runner = CliRunner()

UNITS = {
    "城管局": "小区楼下工地晚上施工噪音扰民{}号楼",
    "交警支队": "路口车辆乱停乱放堵住消防通道{}",
    "威立雅水务有限公司": "小区停水{}天了水压很小没人管",
}


def write_history(path: Path) -> None:
    """36 tickets of 3 units over January-April 2018; the ticket number starts with its date, as in Haikou."""
    rows = []
    for index in range(12):
        month = 1 + index % 4
        for number, (unit, text) in enumerate(UNITS.items()):
            rows.append(
                {"id": f"2018{month:02d}{10 + index:02d}00000{number}", "text": text.format(index), "unit": unit}
            )
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "unit"])
        writer.writeheader()
        writer.writerows(rows)


def write_corrections(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """What `hotline export corrections` writes: (accepted_at, text, department) per accepted ticket."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CORRECTION_COLUMNS)
        writer.writeheader()
        for number, (accepted_at, text, department) in enumerate(rows):
            writer.writerow(
                {"call_id": f"c{number}", "accepted_at": accepted_at, "text": text, "department": department}
            )


def train(history: Path, out: Path, *extra: str):
    return runner.invoke(
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
            str(out),
            "--no-embeddings",
            *extra,
        ],
    )


@pytest.fixture()
def history(tmp_path) -> Path:
    path = tmp_path / "history.csv"
    write_history(path)
    return path


def test_train_stores_the_threshold_and_eval_reports_the_dispatch_metric_on_both_splits(history, tmp_path):
    model = tmp_path / "routing"
    result = train(history, model, "--target-error", "0.05")
    assert result.exit_code == 0, result.output
    assert "auto-dispatch share at ≤5.00% error" in result.stdout
    manifest = json.loads((model / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["dispatch"]["target_error"] == 0.05 and manifest["dispatch"]["threshold"] is not None
    assert manifest["calibration"]["method"] == "sigmoid"
    evaluation = json.loads((model / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["auto_dispatch"]["target_error"] == 0.05 and "ece" in evaluation["calibration"]

    report = tmp_path / "temporal.json"
    temporal = [
        *("eval", "routing", "--csv", str(history), "--text-column", "text", "--label-column", "unit"),
        *("--split", "temporal", "--time-column", "id", "--test-from", "2018-04", "--no-embeddings"),
        *("--json", str(report)),
    ]
    result = runner.invoke(app, temporal)
    assert result.exit_code == 0, result.output
    scored = json.loads(report.read_text(encoding="utf-8"))
    assert (scored["split"], scored["n"], scored["n_train"]) == ("temporal", 9, 27)  # April held out
    # calibrated on February and March, each predicted by a model of the months before it
    assert scored["model_dispatch"]["validation"]["n"] == 18
    assert scored["auto_dispatch"]["target_error"] == pytest.approx(0.0413)  # the setting's default
    assert len(scored["calibration"]["bins"]) == 15 and scored["top3"] == 1.0

    # a trained model scored on the stratified hold-out of the same file
    stratified = ["eval", "routing", "--csv", str(history), "--text-column", "text", "--label-column", "unit"]
    result = runner.invoke(app, [*stratified, "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert "model's threshold (chosen on validation)" in result.stdout
    temporal_without_time = runner.invoke(app, [*stratified, "--split", "temporal", "--no-embeddings"])
    assert temporal_without_time.exit_code == 3 and "--time-column" in temporal_without_time.stderr


def test_the_target_error_is_a_setting(history, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_EXTRACT__DISPATCH_TARGET_ERROR", "0.1")
    assert train(history, tmp_path / "routing").exit_code == 0
    manifest = json.loads((tmp_path / "routing" / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["dispatch"]["target_error"] == 0.1


def test_retraining_from_corrections_replaces_the_model_only_when_it_is_not_worse(history, tmp_path):
    model = tmp_path / "routing"
    assert train(history, model).exit_code == 0
    first = (model / MODEL_FILE).read_bytes()

    # operators now send gas leaks to a unit the history never had: the newest of them are the hold-out, which the
    # current model cannot route and the retrained one can
    gas = tmp_path / "gas.csv"
    write_corrections(
        gas,
        [
            (f"2024-05-{day:02d}T09:00:00+08:00", f"小区燃气管道漏气{day}号楼有煤气味", "燃气公司")
            for day in range(1, 16)
        ],
    )
    result = train(history, model, "--from-corrections", str(gas))
    assert result.exit_code == 0, result.output
    assert "current model" in result.stdout and "kept" not in result.stderr
    retrained = RoutingModel.load(model)
    assert "燃气公司" in retrained.labels and (model / MODEL_FILE).read_bytes() != first
    replaced = json.loads((model / "evaluation.json").read_text(encoding="utf-8"))
    assert replaced["top1"] == 1.0 and replaced["replaced"]["top1"] == 0.0 and replaced["n"] == 3
    assert sorted(path.name for path in model.iterdir()) == ["evaluation.json", MANIFEST_FILE, MODEL_FILE]

    # corrections that teach a wrong unit for construction noise, the newest ones right: the new model is worse there
    noise = tmp_path / "noise.csv"
    wrong = [(f"2024-06-{day:02d}", f"小区楼下工地晚上施工噪音扰民{day}号楼", "交警支队") for day in range(1, 25)]
    right = [(f"2024-07-{day:02d}", f"小区楼下工地晚上施工噪音扰民{day}号楼", "城管局") for day in range(1, 7)]
    write_corrections(noise, wrong + right)
    before = (model / MODEL_FILE).read_bytes()
    result = train(history, model, "--from-corrections", str(noise))
    assert result.exit_code == 0, result.output
    assert "kept the current model" in result.stderr
    assert (model / MODEL_FILE).read_bytes() == before
    forced = train(history, model, "--from-corrections", str(noise), "--force")
    assert forced.exit_code == 0 and (model / MODEL_FILE).read_bytes() != before


def test_a_tampered_model_file_is_a_clear_error(history, tmp_path):
    model = tmp_path / "routing"
    assert train(history, model).exit_code == 0
    payload = bytearray((model / MODEL_FILE).read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    (model / MODEL_FILE).write_bytes(bytes(payload))
    routed = runner.invoke(app, ["route", "--model", str(model), "--text", "工地半夜施工太吵了"])
    assert routed.exit_code == 5 and "does not match its manifest checksum" in routed.stderr
    assert "Traceback" not in routed.output

    corrections = tmp_path / "corrections.jsonl"  # the API's JSON lines form
    rows = [
        {
            "call_id": "c1",
            "accepted_at": "2024-05-01T09:00:00",
            "text": "小区停水了",
            "department": "威立雅水务有限公司",
        }
    ]
    corrections.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    refused = train(history, model, "--from-corrections", str(corrections))
    assert refused.exit_code == 5 and "checksum" in refused.stderr and "--force" in refused.stderr
    replaced = train(history, model, "--from-corrections", str(corrections), "--force")
    assert replaced.exit_code == 0, replaced.output
    assert RoutingModel.load(model).dispatch_threshold is not None


def test_train_with_zones_keeps_the_catalogues_key_areas_in_the_model(tmp_path):
    history = tmp_path / "history.csv"
    write_history(history)
    with history.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        for index in range(12):
            writer.writerow(
                [f"2018{1 + index % 4:02d}{10 + index:02d}000009", f"桂林洋高山村{index}号的路修了很久", "经济开发区"]
            )
    model = tmp_path / "routing"
    result = train(history, model, "--zones", "rule")
    assert result.exit_code == 0, result.output
    manifest = json.loads((model / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["options"]["zones"] == "rule"
    zones = {zone["name"]: zone for zone in manifest["zones"]["zones"]}
    assert zones["桂林洋经济开发区"]["unit"] == "经济开发区管理委员会"
    loaded = RoutingModel.load(model)
    assert [hit.unit for hit in loaded.zone_hits(["桂林洋那边的路一直没修好"])[0]] == ["经济开发区管理委员会"]
    # off by default: no zone table in the model
    plain = tmp_path / "plain"
    assert train(history, plain).exit_code == 0
    assert json.loads((plain / MANIFEST_FILE).read_text(encoding="utf-8"))["zones"] is None
