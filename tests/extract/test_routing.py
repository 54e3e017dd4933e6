"""Department routing: instruction stripping, train/predict/save/load, CSV reading, splits, and one
real training run on the Haikou tickets."""

import csv
import hashlib
import json
import os
import pickle
import re
import time
from pathlib import Path

import numpy as np
import pytest
import skops.io

from extract.routing import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    RoutingModel,
    RoutingOptions,
    SimilarTicket,
    evaluate_routing,
    read_labelled_csv,
    split_channel_prefix,
    stratified_split,
    strip_routing_instruction,
    write_predictions,
)
from models import HotlineError, ModelLoadError

CHAR_ONLY = RoutingOptions(use_embeddings=False)


# --- stripping ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "市民来电反映: 秀英区长滨五路晨晖帝景工地超时施工，噪音严重扰民，请城管部门核实处理！"
            "（请职能局按规定在30分钟内核实处理，响应处置）",
            "秀英区长滨五路晨晖帝景工地超时施工，噪音严重扰民",
        ),
        (
            "市民来电反映：龙华区滨涯花园新村双创广场斜对面有很多车辆违停的问题。请交警核实处理，谢谢！"
            "（请职能局按规定在30分钟内，响应处置）",
            "龙华区滨涯花园新村双创广场斜对面有很多车辆违停的问题",
        ),
        (
            "市民来电反映: 其于2017年10月12日已缴纳定金5万元，被开发商告知无法使用公积金贷款，其认为不合理，"
            "故来电反映。请市住建核实处理，谢谢！（请职能局按规定在30分钟内核实处理，响应处理）",
            "其于2017年10月12日已缴纳定金5万元，被开发商告知无法使用公积金贷款，其认为不合理",
        ),
        ("市民微信咨询: 机动车登记本怎么改营运车。", "机动车登记本怎么改营运车"),
        ("市民公众号咨询：美兰区政务中心地址", "美兰区政务中心地址"),
        ("市民来电反映: 振发路19号有车堵门需要移车，请交警核实处理", "振发路19号有车堵门需要移车"),
    ],
)
def test_strip_removes_instruction_prefix_and_duty_note(text, expected):
    assert strip_routing_instruction(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # a caller's own 请 in the middle, and a caller's question with 请问: both stay
        "其表示请了工人来修，但物业不让进小区，希望有人协调",
        "其原籍派出所办理迁出手续时没有应届毕业生落户选项，请问该怎么办？",
        "楼上住户请装修队晚上施工，噪音很大",
    ],
)
def test_strip_keeps_the_callers_words(text):
    assert strip_routing_instruction(text) == text


def test_strip_keeps_a_question_with_qing_wen_intact():
    text = "市民来电反映: 其在美兰区办证中心办理落户，但是原籍派出所没有该选项，请问该怎么办？"
    assert strip_routing_instruction(text) == "其在美兰区办证中心办理落户，但是原籍派出所没有该选项，请问该怎么办？"


def test_strip_drops_department_replies_and_callback_headers():
    text = (
        "市民来电反映:工商局把该公司列入异常名单就尽到了职责，其觉得不合理。\n"
        "请工商局核实处理！(请职能局按规定在30分钟内联系市民，响应处置)\n"
        "2018-01-11 19:41海口工商局答复：该公司的注册地址无法找到。（政府工单号20180111238413）\n"
        "市民再次来电反映：查处超范围经营本身就是工商局的职责。请工商局核实处理！(请职能局按规定在30分钟内联系市民，响应处置)"
    )
    stripped = strip_routing_instruction(text)
    assert "答复" not in stripped and "注册地址" not in stripped and "20180111238413" not in stripped
    assert "请工商局" not in stripped
    assert stripped.splitlines() == [
        "工商局把该公司列入异常名单就尽到了职责，其觉得不合理",
        "查处超范围经营本身就是工商局的职责",
    ]
    header = (
        "交警来电反馈: 工单号20180608064972《关于秀英区秀华路有辆机动车堵车的问题》工单处理情况\n工单内容：\n"
        "市民来电反映: 秀英区秀华路有辆机动车堵车，请交警核实处理，谢谢！（请职能局按规定在30分钟内联系市民，响应处置）"
    )
    stripped = strip_routing_instruction(header)
    assert "交警" not in stripped and "工单" not in stripped
    assert stripped.splitlines()[-1] == "秀英区秀华路有辆机动车堵车"


def test_strip_handles_empty_and_prefix_only():
    assert strip_routing_instruction("") == ""
    assert strip_routing_instruction("市民来电咨询：") == ""


def test_split_channel_prefix_gives_the_request_kind():
    assert split_channel_prefix("市民来电咨询：外地积分落户政策") == ("咨询", "外地积分落户政策")
    assert split_channel_prefix("市民微信反映:路灯不亮") == ("反映", "路灯不亮")
    assert split_channel_prefix("投诉：出租车拒载") == ("投诉", "出租车拒载")
    assert split_channel_prefix("路灯不亮") == ("", "路灯不亮")


# --- model -------------------------------------------------------------------------------------------

SYNTHETIC = {
    "公安局交通警察支队": ["{}有辆车违停堵住了路口", "{}路口红绿灯坏了车辆乱停", "{}有车辆违章停车挡住出口"],
    "城市管理行政执法局": ["{}工地夜间施工噪音扰民", "{}有人占道经营摆摊", "{}有违章建筑正在搭建"],
    "供水公司": ["{}停水了一整天没有水", "{}水管爆裂一直漏水", "{}自来水发黄有异味"],
}
PLACES = ["秀英区长滨路", "龙华区金盘路", "美兰区海府路", "琼山区府城", "龙华区滨涯路", "美兰区白龙路"]


def synthetic_set() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label, templates in SYNTHETIC.items():
        for template in templates:
            for place in PLACES:
                texts.append(f"市民来电反映: {template.format(place)}，请相关部门核实处理！")
                labels.append(label)
    return texts, labels


class FakeEncoder:
    """Deterministic 16-d bag-of-characters embedding: stands in for e5 at the port."""

    def __init__(self):
        self.calls = 0

    def passages(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        vectors = np.zeros((len(texts), 16), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text:
                vectors[row, ord(char) % 16] += 1.0
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-6)


@pytest.fixture(scope="module")
def char_model() -> RoutingModel:
    texts, labels = synthetic_set()
    return RoutingModel.train(texts, labels, CHAR_ONLY)


def test_train_and_predict_rank_the_right_department_first(char_model):
    predictions = char_model.predict(["美兰区海甸岛有辆车违停堵住了小区门口", "琼山区今天停水了没有水"], k=3)
    assert [ranked[0][0] for ranked in predictions] == ["公安局交通警察支队", "供水公司"]
    for ranked in predictions:
        assert len(ranked) == 3
        scores = [score for _, score in ranked]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= score <= 1.0 for score in scores)
    assert char_model.labels == sorted(SYNTHETIC)


def test_predict_probabilities_sum_to_one_and_k_is_capped(char_model):
    probabilities = char_model.predict_proba(["有人占道经营", ""])
    assert probabilities.shape == (2, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert len(char_model.predict(["有人占道经营"], k=10)[0]) == 3
    assert char_model.predict([]) == []


def test_label_aliases_merge_renamed_units():
    texts, labels = synthetic_set()
    labels = ["自来水公司" if label == "供水公司" and i % 2 else label for i, label in enumerate(labels)]
    model = RoutingModel.train(texts, labels, CHAR_ONLY, label_aliases={"自来水公司": "供水公司"})
    assert "自来水公司" not in model.labels and "供水公司" in model.labels


def test_training_text_with_instruction_does_not_leak_the_label():
    # every training text names its unit in the instruction only; after stripping nothing is left
    # to learn from, so the model cannot route a text by the instruction
    texts = [f"市民来电反映: 路灯坏了。请{unit}核实处理！" for unit in ("交警", "城管")] * 5
    labels = ["公安局交通警察支队", "城市管理行政执法局"] * 5
    model = RoutingModel.train(texts, labels, CHAR_ONLY)
    probabilities = model.predict_proba(["路灯坏了。请交警核实处理！"])[0]
    assert probabilities[0] == pytest.approx(0.5, abs=0.02)


def test_ensemble_uses_the_encoder_and_round_trips(tmp_path):
    texts, labels = synthetic_set()
    encoder = FakeEncoder()
    model = RoutingModel.train(texts, labels, RoutingOptions(), encoder=encoder)
    assert encoder.calls == 1
    queries = ["龙华区有人在路边摆摊占道经营", "秀英区水管爆了"]
    before = model.predict(queries, k=2)
    model.save(tmp_path / "routing")
    manifest = json.loads((tmp_path / "routing" / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION == 3 and manifest["training_size"] == len(texts)
    assert manifest["labels"] == model.labels and manifest["options"]["use_embeddings"] is True
    loaded = RoutingModel.load(tmp_path / "routing", encoder=encoder)
    assert loaded.labels == model.labels and loaded.options == model.options
    after = loaded.predict(queries, k=2)
    assert [[name for name, _ in ranked] for ranked in after] == [[name for name, _ in ranked] for ranked in before]
    assert np.allclose([s for r in after for _, s in r], [s for r in before for _, s in r])
    assert loaded.similar(queries, n=3) == model.similar(queries, n=3)


def test_similar_returns_the_nearest_training_tickets(char_model):
    texts, labels = synthetic_set()
    (nearest,) = char_model.similar(["市民来电反映: 龙华区金盘路停水了一整天没有水"], n=3)
    assert len(nearest) == 3 and all(isinstance(item, SimilarTicket) for item in nearest)
    best = nearest[0]
    # the exact training ticket comes first, stripped of its instruction, with its unit
    assert texts[best.index].startswith("市民来电反映: 龙华区金盘路停水了一整天没有水")
    assert best.text == "龙华区金盘路停水了一整天没有水" and best.label == labels[best.index] == "供水公司"
    assert best.similarity == pytest.approx(1.0, abs=1e-4)
    assert [item.similarity for item in nearest] == sorted((item.similarity for item in nearest), reverse=True)
    assert char_model.similar([]) == []
    assert len(char_model.similar(["停水"], n=1000)[0]) == len(texts)


def test_neighbour_vote_is_part_of_the_ensemble():
    texts, labels = synthetic_set()
    encoder = FakeEncoder()
    with_vote = RoutingModel.train(texts, labels, RoutingOptions(), encoder=encoder)
    without = RoutingModel.train(texts, labels, RoutingOptions(neighbour_weight=0.0), encoder=encoder)
    query = ["美兰区海府路自来水发黄有异味"]
    assert with_vote.similar(query, n=1)[0][0].label == "供水公司"
    assert not np.allclose(with_vote.predict_proba(query), without.predict_proba(query))
    assert np.allclose(with_vote.predict_proba(query).sum(), 1.0)


def test_class_weight_power_up_weights_rare_units():
    texts, labels = synthetic_set()
    # one 供水公司 ticket among many: balanced weights make the model more willing to predict it
    keep = [i for i, label in enumerate(labels) if label != "供水公司"] + [labels.index("供水公司")]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    query = ["琼山区府城水管爆裂一直漏水"]
    column = sorted(set(labels)).index("供水公司")
    scores = [
        RoutingModel.train(texts, labels, RoutingOptions(use_embeddings=False, class_weight_power=power)).predict_proba(
            query
        )[0, column]
        for power in (0.0, 1.0)
    ]
    assert scores[1] > scores[0]


def test_train_rejects_a_single_department():
    with pytest.raises(ValueError, match="two different"):
        RoutingModel.train(["路灯坏了", "路灯不亮"], ["城管", "城管"], CHAR_ONLY)


def test_unknown_classifier_is_a_value_error():
    texts, labels = synthetic_set()
    with pytest.raises(ValueError, match="unknown routing classifier"):
        RoutingModel.train(texts, labels, RoutingOptions(classifier="forest", use_embeddings=False))


# --- load errors -------------------------------------------------------------------------------------


@pytest.fixture()
def saved(tmp_path, char_model) -> Path:
    char_model.save(tmp_path / "model")
    return tmp_path / "model"


def test_load_missing_directory(tmp_path):
    with pytest.raises(ModelLoadError, match=r"manifest\.json is missing"):
        RoutingModel.load(tmp_path / "nothing")


def test_char_model_round_trips(saved, char_model):
    queries = ["龙华区有人在路边摆摊占道经营", "秀英区水管爆了"]
    loaded = RoutingModel.load(saved)
    assert (saved / MODEL_FILE).read_bytes()[:2] == b"PK"  # a skops file is a zip archive
    assert np.array_equal(loaded.predict_proba(queries), char_model.predict_proba(queries))
    assert loaded.similar(queries, n=3) == char_model.similar(queries, n=3)


def test_load_corrupt_model_file(saved):
    (saved / MODEL_FILE).write_bytes(b"not a skops file")
    with pytest.raises(ModelLoadError, match="checksum"):
        RoutingModel.load(saved)


def replace_model_file(saved: Path, payload: bytes) -> None:
    """Another model file with a manifest that vouches for it, as whoever can write the folder could make."""
    (saved / MODEL_FILE).write_bytes(payload)
    manifest = json.loads((saved / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["model_sha256"] = hashlib.sha256(payload).hexdigest()
    (saved / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")


class TouchOnUnpickle:
    """Unpickling this calls Path.touch: code run by loading the file."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return Path.touch, (self.path,)


def test_load_refuses_a_pickle_without_running_it(saved, tmp_path):
    ran = tmp_path / "code-ran"
    payload = pickle.dumps({"vectorizer": TouchOnUnpickle(ran)})
    replace_model_file(saved, payload)
    with pytest.raises(ModelLoadError, match="corrupt"):
        RoutingModel.load(saved)
    assert not ran.exists()
    pickle.loads(payload)  # the payload does run code when unpickled
    assert ran.exists()


def test_load_refuses_types_outside_the_trusted_list(saved):
    replace_model_file(saved, skops.io.dumps({"vectorizer": os.system}))
    with pytest.raises(ModelLoadError, match=r"refused: .*posix\.system"):
        RoutingModel.load(saved)


def test_load_refuses_a_skops_file_of_other_parts(saved, char_model):
    replace_model_file(saved, skops.io.dumps({"vectorizer": char_model._char_classifier}))
    with pytest.raises(ModelLoadError, match="corrupt: vectorizer is a LinearSVC"):
        RoutingModel.load(saved)


def test_load_refuses_an_old_pickle_model_and_says_to_retrain(saved):
    # what format 2 wrote: model.pkl and a manifest naming it
    (saved / MODEL_FILE).rename(saved / "model.pkl")
    manifest = json.loads((saved / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest.update(format_version=2, model_file="model.pkl")
    (saved / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"format version 2 \(a pickle.*retrain it with `hotline train routing`"):
        RoutingModel.load(saved)


def test_load_missing_model_file(saved):
    (saved / MODEL_FILE).unlink()
    with pytest.raises(ModelLoadError, match="unreadable"):
        RoutingModel.load(saved)


def test_load_unreadable_manifest(saved):
    (saved / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="unreadable"):
        RoutingModel.load(saved)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("format_version", 99, "format version 99"), ("versions", {"scikit-learn": "0.1"}, "scikit-learn 0.1")],
)
def test_load_incompatible_manifest(saved, key, value, message):
    manifest = json.loads((saved / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest[key] = value
    (saved / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=message):
        RoutingModel.load(saved)


def test_load_errors_are_hotline_errors():
    assert issubclass(ModelLoadError, HotlineError)


# --- CSV, split, evaluation, output ------------------------------------------------------------------


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_read_labelled_csv_skips_empty_rows(tmp_path, caplog):
    path = write_csv(
        tmp_path / "t.csv",
        ["id", "诉求内容", "处置单位"],
        [["1", "路灯坏了", "城管"], ["2", "", "城管"], ["3", "停水", ""]],
    )
    texts, labels = read_labelled_csv(path, "诉求内容", "处置单位")
    assert (texts, labels) == (["路灯坏了"], ["城管"])
    assert "skipped 2 rows" in caplog.text


def test_read_labelled_csv_errors(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["id", "text"], [["1", "路灯坏了"]])
    with pytest.raises(ValueError, match="no column '处置单位'"):
        read_labelled_csv(path, "text", "处置单位")
    empty = write_csv(tmp_path / "e.csv", ["text", "label"], [])
    with pytest.raises(ValueError, match="no rows"):
        read_labelled_csv(empty, "text", "label")
    with pytest.raises(ValueError, match="cannot read"):
        read_labelled_csv(tmp_path / "missing.csv", "text", "label")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"text,label\n\xff\xfe\x00bad,x\n")
    with pytest.raises(ValueError, match="not a UTF-8"):
        read_labelled_csv(binary, "text", "label")


def test_stratified_split_is_deterministic_and_forces_ids():
    labels = ["a"] * 10 + ["b"] * 5 + ["c"]
    texts = [str(i) for i in range(len(labels))]
    train, test = stratified_split(texts, labels, test_fraction=0.2, seed=1, force_test=[0, 1, 2])
    assert (train, test) == stratified_split(texts, labels, test_fraction=0.2, seed=1, force_test=[0, 1, 2])
    assert set(train).isdisjoint(test) and len(train) + len(test) == len(labels)
    assert {0, 1, 2} <= set(test)
    assert 15 in train  # the only "c" stays in train
    assert sum(labels[i] == "b" for i in test) == 1
    assert sum(labels[i] == "a" for i in test) == 3  # forced rows beyond the 20% share still go to test


def test_evaluate_routing_counts_top_k(char_model):
    result = evaluate_routing(
        char_model, ["琼山区有人占道经营", "琼山区停水了"], ["城市管理行政执法局", "自来水"], ks=(1, 3)
    )
    assert result["n"] == 2 and result["top1"] == 0.5 and result["top3"] == 0.5 and result["unseen"] == 1
    assert result["per_label"]["城市管理行政执法局"] == {"support": 1, "top1": 1.0}
    assert set(result["coverage"]) == {"50%", "70%", "90%"}
    # the most confident half is one text; its top-1 is right or wrong, and its score is the cut
    half = result["coverage"]["50%"]
    assert half["top1"] in (0.0, 1.0) and 0.0 < half["min_score"] <= 1.0


class FixedModel:
    """A routing model at the evaluation's port: fixed probabilities per text."""

    def __init__(self, labels: list[str], probabilities: dict[str, list[float]]):
        self.labels = labels
        self.probabilities = probabilities
        self.calibration = None
        self.dispatch_threshold = None

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.array([self.probabilities[text] for text in texts]).reshape(len(texts), len(self.labels))

    def predict_with_confidence(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        probabilities = self.predict_proba(texts)
        return probabilities, probabilities.max(axis=1)


def test_evaluate_routing_coverage_ranks_by_confidence():
    scores = {"sure-right": 0.9, "sure-wrong": 0.8, "unsure-right": 0.55, "unsure-wrong": 0.5}
    model = FixedModel(["a", "b"], {text: [score, 1 - score] for text, score in scores.items()})
    texts = ["sure-right", "sure-wrong", "unsure-right", "unsure-wrong"]
    result = evaluate_routing(model, texts, ["a", "b", "a", "b"], coverages=(0.25, 0.5, 1.0))
    assert result["coverage"] == {
        "25%": {"top1": 1.0, "min_score": 0.9},
        "50%": {"top1": 0.5, "min_score": 0.8},
        "100%": {"top1": 0.5, "min_score": 0.5},
    }
    # two units: "unsure-wrong" is a tie, which the model's ranking gives to the first unit
    assert (result["top1"], result["top3"]) == (0.5, 1.0)


def test_evaluate_routing_counts_the_ranking_predict_returns_ties_included():
    # `RoutingModel.predict` ranks the first of equal units first: a, b, c, d for both "tie" and "even"
    probabilities = {"tie": [0.4, 0.25, 0.25, 0.1], "even": [0.3, 0.3, 0.2, 0.2], "clear": [0.1, 0.2, 0.3, 0.4]}
    model = FixedModel(["a", "b", "c", "d"], probabilities)
    result = evaluate_routing(model, ["tie", "even", "clear", "clear"], ["b", "b", "d", "x"], ks=(1, 2, 3))
    assert (result["top1"], result["top2"], result["top3"]) == (0.25, 0.75, 0.75)
    assert result["unseen"] == 1
    assert result["per_label"] == {
        "b": {"support": 2, "top1": 0.0},
        "d": {"support": 1, "top1": 1.0},
        "x": {"support": 1, "top1": 0.0},
    }


def test_write_predictions(tmp_path, char_model):
    rows = [{"诉求内容": "琼山区有人占道经营"}, {"诉求内容": "美兰区停水"}]
    out = tmp_path / "out" / "pred.csv"
    write_predictions(rows, char_model.predict([r["诉求内容"] for r in rows], k=2), out, text_column="诉求内容")
    with out.open(encoding="utf-8", newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == ["诉求内容", "top1", "top1_score", "top2", "top2_score"]
    assert written[1][0] == "琼山区有人占道经营" and written[1][1] == "城市管理行政执法局"
    assert 0.0 <= float(written[1][2]) <= 1.0


# --- the real data -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_tickets_stripped_and_routed(shared_data):
    tickets = shared_data / "haikou12345" / "tickets.csv"
    if not tickets.is_file():
        pytest.skip(f"{tickets} not present")
    texts, labels = read_labelled_csv(tickets, "诉求内容", "处置单位")
    stripped = [strip_routing_instruction(text) for text in texts]
    # the operator's "请<unit>核实处理" is gone; what remains are callers' own 请 sentences and long letters
    leaks = [
        text
        for text in stripped
        if re.search(r"(?<![申恳])请(?!问|求)[^。！？]*(局|委|中心|公司|支队|大队|政府|办)", text)
    ]
    assert len(leaks) < 0.015 * len(texts)
    assert not any(re.search(r"(职能局按规定|30分钟内|故来电反映$)", text, re.MULTILINE) for text in stripped)

    train, test = stratified_split(texts, labels, test_fraction=0.2, seed=0)
    started = time.perf_counter()
    model = RoutingModel.train([texts[i] for i in train], [labels[i] for i in train], CHAR_ONLY)
    result = evaluate_routing(model, [texts[i] for i in test], [labels[i] for i in test])
    # measured (char model with class weights, raw labels, seed 0): top-1 0.684, top-3 0.831 (unweighted 0.682, 0.829)
    assert result["top1"] >= 0.65 and result["top3"] >= 0.79
    assert time.perf_counter() - started < 60
