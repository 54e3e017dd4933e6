"""Auto-dispatch (extract.routing.calibration): the share routed at a target error rate, top-score calibration, the
expected calibration error, the temporal split, the threshold a model stores, and how extraction and review use it."""

import json
from dataclasses import replace

import numpy as np
import pytest
from extract_builders import CALL_START, transcript_of

from extract.routing import (
    MANIFEST_FILE,
    MODEL_FILE,
    RoutingModel,
    RoutingOptions,
    TopScoreCalibration,
    auto_dispatch_share,
    calibration_error,
    evaluate_routing,
    month_of,
    share_at_threshold,
    temporal_split,
    validation_folds,
)
from extract.ticket import extract_ticket, load_resources
from models import CallMeta, ModelLoadError

CHAR_ONLY = RoutingOptions(use_embeddings=False)

# ---- the metric on hand-made scores --------------------------------------------------------------------------

CONFIDENCE = [0.99, 0.95, 0.9, 0.9, 0.8, 0.7]
CORRECT = [True, True, True, False, True, False]


def test_share_is_the_largest_confident_prefix_within_the_target_error():
    # 1 wrong in the first 5 (20%) fits 25%; all 6 (2 wrong, 33%) do not
    result = auto_dispatch_share(CONFIDENCE, CORRECT, 0.25)
    assert (result["share"], result["count"], result["errors"], result["threshold"]) == (5 / 6, 5, 1, 0.8)
    assert result["error"] == pytest.approx(0.2)


def test_share_is_cut_only_between_different_scores():
    # the first three are right, but the third ties with a wrong one: ">= 0.9" takes both, so the cut is at 0.95
    result = auto_dispatch_share(CONFIDENCE, CORRECT, 0.1)
    assert (result["count"], result["threshold"], result["error"]) == (2, 0.95, 0.0)


def test_an_error_rate_exactly_at_the_target_fits_and_none_qualifying_gives_no_threshold():
    # 1 wrong in 25 is 4.0%: within a 4.0% target despite float rounding
    assert auto_dispatch_share(np.linspace(1.0, 0.5, 25), [True] * 24 + [False], 0.04)["count"] == 25
    nothing = auto_dispatch_share([0.9, 0.8], [False, True], 0.0413)
    assert (nothing["share"], nothing["threshold"]) == (0.0, None)
    assert auto_dispatch_share([], [], 0.0413)["threshold"] is None


def test_a_fixed_threshold_takes_the_tickets_at_or_above_it():
    result = share_at_threshold(CONFIDENCE, CORRECT, 0.9)
    assert (result["count"], result["errors"], result["share"]) == (4, 1, 4 / 6)
    assert share_at_threshold(CONFIDENCE, CORRECT, None)["count"] == 0


def test_expected_calibration_error_and_its_reliability_bins():
    # bin [0.9, 1.0]: 2 tickets at 0.9, half right (gap 0.4); bin [0.1, 0.2): 2 at 0.1, none right (gap 0.1)
    result = calibration_error([0.9, 0.9, 0.1, 0.1], [True, False, False, False], bins=10)
    assert result["ece"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert len(result["bins"]) == 10
    top = result["bins"][9]
    assert (top["n"], top["accuracy"], top["confidence"]) == (2, 0.5, pytest.approx(0.9))
    assert result["bins"][5] == {"lower": 0.5, "upper": 0.6, "n": 0, "confidence": None, "accuracy": None}
    # a score of exactly 1.0 belongs to the top bin; a perfectly calibrated set has no error
    assert calibration_error([1.0, 0.0], [True, False], bins=15)["ece"] == 0.0


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_is_monotone_fixes_overconfidence_and_round_trips(method):
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.3, 1.0, 2000)
    right = rng.uniform(size=2000) < raw**3  # the model says 0.9 where it is right 73% of the time
    calibration = TopScoreCalibration.fit(raw, right, method)
    calibrated = calibration.apply(raw)
    order = np.argsort(raw)
    assert np.all(np.diff(calibrated[order]) >= -1e-12)  # the order of tickets by confidence is kept
    assert calibration_error(calibrated, right)["ece"] < calibration_error(raw, right)["ece"] / 3
    again = TopScoreCalibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert np.allclose(again.apply(raw), calibrated)


def test_a_calibration_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="unknown calibration"):
        TopScoreCalibration.from_dict({"method": "pickle"})
    with pytest.raises(ValueError, match="increasing"):
        TopScoreCalibration.from_dict({"method": "isotonic", "points_x": [0.9, 0.1], "points_y": [0.1, 0.9]})
    with pytest.raises(ValueError, match="at least 2"):
        TopScoreCalibration.fit([0.9], [True], "sigmoid")


def test_sigmoid_calibration_of_validation_tickets_all_routed_right_stays_short_of_certainty():
    calibration = TopScoreCalibration.fit([0.9, 0.8, 0.7], [True, True, True], "sigmoid")
    assert np.all((calibration.apply([0.7, 0.9]) > 0.5) & (calibration.apply([0.7, 0.9]) < 1.0))


# ---- splits -----------------------------------------------------------------------------------------------------


def test_month_of_a_date_or_a_ticket_number():
    assert month_of("20180503184928") == "2018-05"  # the Haikou 工单编号 starts with its date
    assert month_of("2018-06-30T23:59:00+08:00") == "2018-06"
    for bad in ("", "abc", "20181301"):
        with pytest.raises(ValueError, match="not a date"):
            month_of(bad)


def test_temporal_split_trains_on_the_past_and_leaves_excluded_rows_out():
    months = ["2018-01", "2018-02", "2018-05", "2018-04", "2018-06", "2018-01"]
    assert temporal_split(months, "2018-05") == ([0, 1, 3, 5], [2, 4])
    assert temporal_split(months, "2018-05", exclude=[1, 2]) == ([0, 3, 5], [2, 4])  # a test row stays in test
    assert temporal_split(months) == ([0, 1, 2, 3, 5], [4])  # the latest month by default
    with pytest.raises(ValueError, match="leaves 0 training"):
        temporal_split(months, "2017-12")


def test_validation_folds_rolling_over_the_latest_months_or_stratified():
    months = ["2018-01", "2018-04", "2018-02", "2018-04", "2018-03"]
    # each of the latest 3 months (there are only 3 with a past) validated by a model of the months before it
    assert validation_folds(["a"] * 5, months) == [([0], [2]), ([0, 2], [4]), ([0, 2, 4], [1, 3])]
    assert validation_folds(["a"] * 5, months, folds=1) == [([0, 2, 4], [1, 3])]
    with pytest.raises(ValueError, match="two months"):
        validation_folds(["a", "b"], ["2018-01", "2018-01"])
    labels = ["a"] * 6 + ["b"] * 3
    folds = validation_folds(labels, folds=3)
    assert sorted(row for _, validation in folds for row in validation) == list(range(9))
    for fit, validation in folds:
        assert not set(fit) & set(validation) and {labels[i] for i in validation} == {"a", "b"}


# ---- a calibrated model -----------------------------------------------------------------------------------------

UNITS = {
    "公安局交通警察支队": ["{}有辆车违停堵住了路口", "{}路口红绿灯坏了车辆乱停", "{}有车辆违章停车挡住出口"],
    "城市管理行政执法局": ["{}工地夜间施工噪音扰民", "{}有人占道经营摆摊", "{}有违章建筑正在搭建"],
    "供水公司": ["{}停水了一整天没有水", "{}水管爆裂一直漏水", "{}自来水发黄有异味"],
}
PLACES = ["秀英区长滨路", "龙华区金盘路", "美兰区海府路", "琼山区府城", "龙华区滨涯路", "美兰区白龙路"]


def labelled_set() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label, templates in UNITS.items():
        for template in templates:
            for place in PLACES:
                texts.append(f"市民来电反映: {template.format(place)}")
                labels.append(label)
    # two ambiguous tickets per unit pair: what makes some first choices wrong
    texts += ["市民来电反映: 路边有人停车摆摊", "市民来电反映: 路边有人停车摆摊", "市民来电反映: 工地水管漏水"]
    labels += ["公安局交通警察支队", "城市管理行政执法局", "城市管理行政执法局"]
    return texts, labels


@pytest.fixture(scope="module")
def calibrated() -> RoutingModel:
    texts, labels = labelled_set()
    return RoutingModel.train_calibrated(texts, labels, validation_folds(labels, folds=3), CHAR_ONLY, target_error=0.02)


def test_a_calibrated_model_stores_its_threshold_and_calibration_in_its_manifest(calibrated, tmp_path):
    dispatch = calibrated.dispatch
    assert dispatch["target_error"] == 0.02 and dispatch["validation"]["n"] == len(labelled_set()[0])
    assert dispatch["validation"]["error"] <= 0.02 and 0 < dispatch["threshold"] <= 1
    assert calibrated.calibration.method == "sigmoid"
    calibrated.save(tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["dispatch"]["threshold"] == calibrated.dispatch_threshold
    assert manifest["calibration"]["method"] == "sigmoid" and manifest["model_file"] == MODEL_FILE
    loaded = RoutingModel.load(tmp_path / "model")
    assert loaded.dispatch == calibrated.dispatch
    queries = ["龙华区有人占道经营", "路边有人停车"]
    assert np.allclose(loaded.confidence(queries), calibrated.confidence(queries))


def test_evaluation_reports_share_model_threshold_and_calibration(calibrated):
    texts, labels = labelled_set()
    result = evaluate_routing(calibrated, texts, labels, target_error=0.1)
    assert result["auto_dispatch"]["target_error"] == 0.1 and result["auto_dispatch"]["error"] <= 0.1
    assert result["at_model_threshold"]["threshold"] == calibrated.dispatch_threshold
    assert result["calibration"]["method"] == "sigmoid" and len(result["calibration"]["bins"]) == 15
    assert result["calibration"]["ece"] is not None and result["calibration"]["ece_raw"] is not None
    # calibration is monotone in the top score: the ranking of units, hence top-1 and top-3, are the model's own
    uncalibrated = evaluate_routing(replace_calibration(calibrated, None), texts, labels, target_error=0.1)
    assert (result["top1"], result["top3"]) == (uncalibrated["top1"], uncalibrated["top3"])


def replace_calibration(model: RoutingModel, calibration) -> RoutingModel:
    copy = RoutingModel.__new__(RoutingModel)
    copy.__dict__.update(model.__dict__)
    copy.calibration = calibration
    return copy


def test_saving_over_a_model_replaces_it_whole(calibrated, tmp_path):
    texts, labels = labelled_set()
    folder = tmp_path / "model"
    RoutingModel.train(texts, labels, CHAR_ONLY).save(folder)
    assert RoutingModel.load(folder).dispatch is None
    calibrated.save(folder)
    assert sorted(path.name for path in folder.iterdir()) == [MANIFEST_FILE, MODEL_FILE]
    assert RoutingModel.load(folder).dispatch_threshold == calibrated.dispatch_threshold


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_file": "../elsewhere.skops"}, "names model file"),
        ({"calibration": {"method": "isotonic", "points_x": [1, 0], "points_y": [0, 1]}}, "corrupt"),
        ({"dispatch": "always"}, "corrupt"),
    ],
)
def test_a_manifest_changed_by_hand_is_a_clear_error(calibrated, tmp_path, change, message):
    calibrated.save(tmp_path / "model")
    path = tmp_path / "model" / MANIFEST_FILE
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **change}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=message):
        RoutingModel.load(tmp_path / "model")


# ---- extraction and review --------------------------------------------------------------------------------------

NOISE_CALL = (
    ("agent", "您好，12345热线。"),
    ("caller", "我要反映龙华区金盘路工地夜间施工噪音扰民，吵得睡不着。"),
    ("agent", "好的，我们会转交相关部门处理。"),
)


def extract_with(model: RoutingModel):
    resources = replace(load_resources(use_knowledge_base=False), routing_model=model)
    meta = CallMeta(call_id="t-1", started_at=CALL_START)
    return extract_ticket(transcript_of(*NOISE_CALL), meta, resources)


def with_threshold(model: RoutingModel, threshold: float) -> RoutingModel:
    copy = replace_calibration(model, model.calibration)
    copy.dispatch = {**model.dispatch, "threshold": threshold}
    return copy


def test_the_first_suggestion_is_auto_dispatchable_only_at_or_above_the_model_threshold(calibrated):
    below = extract_with(with_threshold(calibrated, 1.01)).department_suggestions
    assert below[0].department == "城市管理行政执法局" and not any(item.auto_dispatch for item in below)
    assert any(reason.startswith("自动派单把握：") and "（需 101.0%）" in reason for reason in below[0].reasons)
    ticket = extract_with(with_threshold(calibrated, 0.0))
    first, *rest = ticket.department_suggestions
    assert first.auto_dispatch and not any(item.auto_dispatch for item in rest)
    assert ticket.to_dict()["department_suggestions"][0]["auto_dispatch"] is True
    assert "department" not in {reason.field for reason in ticket.review_reasons}


def test_a_model_without_a_threshold_dispatches_nothing_and_review_says_so(calibrated):
    texts, labels = labelled_set()
    ticket = extract_with(RoutingModel.train(texts, labels, CHAR_ONLY))
    assert not any(item.auto_dispatch for item in ticket.department_suggestions)
    assert ticket.review != "auto"
    department = [reason.code for reason in ticket.review_reasons if reason.field == "department"]
    assert len(department) == 1 and department[0] in ("department_not_auto", "department_low_score", "department_close")
