"""A better ranker (issue 15, step 2): the matter-category route, the stacked dispatch confidence and recency
weights, on a small ticket set written here."""

import json
from dataclasses import replace

import numpy as np
import pytest

from extract.routing import MANIFEST_FILE, RoutingModel, RoutingOptions, evaluate_routing, validation_folds
from extract.routing.confidence import (
    FEATURE_NAMES,
    ConfidenceModel,
    RankerParts,
    cross_fitted_scores,
    dispatch_features,
)

CHAR_ONLY = RoutingOptions(use_embeddings=False)

# unit → (matter category, templates): 城管 handles two categories, one of which (噪音) it shares with 环保
TICKETS = {
    "城市管理行政执法局": [
        ("街面秩序/占道经营", "{}有人占道经营摆摊"),
        ("街面秩序/占道经营", "{}流动摊贩堵住人行道"),
        ("噪音污染/施工噪音", "{}工地夜间施工噪音扰民"),
    ],
    "环境保护局": [
        ("噪音污染/施工噪音", "{}工地深夜打桩声音很大"),
        ("环境污染/废气", "{}工厂排放废气很臭"),
        ("环境污染/废气", "{}烧垃圾冒黑烟"),
    ],
    "供水公司": [
        ("供水/停水", "{}停水了一整天没有水"),
        ("供水/漏水", "{}水管爆裂一直漏水"),
        ("供水/水质", "{}自来水发黄有异味"),
    ],
}
PLACES = ["秀英区长滨路", "龙华区金盘路", "美兰区海府路", "琼山区府城", "龙华区滨涯路", "美兰区白龙路"]
MONTHS = ["2018-01", "2018-02", "2018-03", "2018-04", "2018-05", "2018-06"]


def ticket_set() -> tuple[list[str], list[str], list[str], list[str]]:
    texts, labels, categories, months = [], [], [], []
    for unit, items in TICKETS.items():
        for category, template in items:
            for place, month in zip(PLACES, MONTHS, strict=True):
                texts.append(f"市民来电反映: {template.format(place)}")
                labels.append(unit)
                categories.append(category)
                months.append(month)
    # the same noise complaint sent to either unit: what makes some first choices wrong
    for index, (place, month) in enumerate(zip(PLACES, MONTHS, strict=True)):
        texts.append(f"市民来电反映: {place}附近施工很吵")
        labels.append("城市管理行政执法局" if index % 2 else "环境保护局")
        categories.append("噪音污染/施工噪音")
        months.append(month)
    return texts, labels, categories, months


@pytest.fixture(scope="module")
def stacked() -> RoutingModel:
    texts, labels, categories, months = ticket_set()
    options = replace(CHAR_ONLY, confidence="stacked", category_weight=0.2)
    return RoutingModel.train_calibrated(
        texts, labels, validation_folds(labels, folds=3), options, categories=categories, months=months
    )


def test_the_category_route_gives_each_unit_its_share_of_the_predicted_category():
    texts, labels, categories, _ = ticket_set()
    model = RoutingModel.train(texts, labels, replace(CHAR_ONLY, category_smoothing=0.0), categories=categories)
    parts = model._parts(
        ["市民来电反映: 龙华区金盘路有人占道经营摆摊", "市民来电反映: 美兰区海府路工地夜间施工噪音扰民"]
    )
    assert np.allclose(parts.category.sum(axis=1), 1.0)
    column = {unit: index for index, unit in enumerate(model.labels)}
    # 占道经营 is 城管's alone; 施工噪音 went half to 城管 and half to 环保 in the history: the route splits it
    assert parts.category[0, column["城市管理行政执法局"]] > 0.9
    noise = parts.category[1]
    assert noise[column["城市管理行政执法局"]] == pytest.approx(noise[column["环境保护局"]], abs=0.1)
    assert noise[column["供水公司"]] < 0.05
    assert np.all(parts.category_confidence > 0.5)


def test_the_category_weight_moves_the_blend_and_needs_categories():
    texts, labels, categories, _ = ticket_set()
    query = ["市民来电反映: 工地施工声音很吵"]
    without = RoutingModel.train(texts, labels, CHAR_ONLY, categories=categories).predict_proba(query)
    blended = RoutingModel.train(texts, labels, replace(CHAR_ONLY, category_weight=0.5), categories=categories)
    assert not np.allclose(blended.predict_proba(query), without)
    assert np.allclose(blended.predict_proba(query).sum(), 1.0)
    with pytest.raises(ValueError, match="categories"):
        RoutingModel.train(texts, labels, replace(CHAR_ONLY, category_weight=0.1))
    with pytest.raises(ValueError, match="must not exceed 1"):
        RoutingModel.train(texts, labels, replace(CHAR_ONLY, category_weight=1.1), categories=categories)


def test_dispatch_features_read_agreement_margin_and_unit_frequency():
    char = np.array([[0.7, 0.2, 0.1], [0.4, 0.5, 0.1]])
    category = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    blended = 0.5 * char + 0.5 * category
    parts = RankerParts(
        char=char, category=category, category_confidence=np.array([0.9, 0.6]), lengths=np.array([9, 99])
    )
    features = dispatch_features(parts, blended, unit_counts=np.array([100, 10, 1]))
    assert features.shape == (2, len(FEATURE_NAMES))
    named = [dict(zip(FEATURE_NAMES, row, strict=True)) for row in features]
    # row 0: both parts chose unit 0; row 1 blends to unit 2 (0.45), which the char model did not choose
    assert named[0]["char_agrees"] == 1.0 and named[0]["category_agrees"] == 1.0
    assert named[1]["char_agrees"] == 0.0 and named[1]["category_agrees"] == 1.0
    assert named[0]["margin"] == pytest.approx(0.75 - 0.15) and named[1]["char_probability"] == pytest.approx(0.1)
    assert named[0]["log_unit_count"] == pytest.approx(np.log1p(100)) and named[1]["log_unit_count"] == pytest.approx(
        np.log1p(1)
    )
    # parts the model does not have are zeros, the same in fitting and in use
    assert named[0]["embedding_probability"] == 0.0 and named[0]["nearest_similarity"] == 0.0


def test_the_confidence_model_learns_which_first_choices_are_right_and_is_cross_fitted_by_group():
    rng = np.random.default_rng(0)
    agree = rng.integers(0, 2, 600).astype(float)
    features = np.column_stack([agree, rng.normal(size=600)])
    correct = rng.uniform(size=600) < np.where(agree == 1, 0.95, 0.4)
    model = ConfidenceModel.fit(features, correct)
    right_when_agreeing, right_otherwise = model.predict(np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert right_when_agreeing == pytest.approx(0.95, abs=0.05) and right_otherwise == pytest.approx(0.4, abs=0.08)
    scores = cross_fitted_scores(features, correct, groups=np.repeat([0, 1, 2], 200))
    assert scores.shape == (600,) and np.all((scores > 0) & (scores < 1))
    with pytest.raises(ValueError, match="two validation groups"):
        cross_fitted_scores(features, correct, groups=np.zeros(600))
    with pytest.raises(ValueError, match="right and wrong"):
        ConfidenceModel.fit(features, np.ones(600, dtype=bool))


def test_a_stacked_model_dispatches_on_its_confidence_and_keeps_it_through_save_and_load(stacked, tmp_path):
    texts, labels, _, _ = ticket_set()
    assert stacked.confidence_model is not None and stacked.dispatch_threshold is not None
    probabilities, confidence = stacked.predict_with_confidence(texts)
    # the confidence is the stacker's, not the top-1 probability calibrated
    assert not np.allclose(confidence, stacked.calibration.apply(probabilities.max(axis=1)))
    assert np.allclose(probabilities, stacked.predict_proba(texts))
    stacked.save(tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["options"]["confidence"] == "stacked" and sum(manifest["unit_counts"]) == len(texts)
    loaded = RoutingModel.load(tmp_path / "model")
    assert np.allclose(loaded.confidence(texts), confidence)
    assert np.allclose(loaded.predict_proba(texts), probabilities)
    report = evaluate_routing(loaded, texts, labels, target_error=0.1)
    assert report["at_model_threshold"]["threshold"] == stacked.dispatch_threshold


def test_without_wrong_validation_routings_the_confidence_stays_the_top_score():
    texts, labels, _, _ = ticket_set()
    clear = [row for row, text in enumerate(texts) if "附近施工很吵" not in text]
    texts, labels = [texts[row] for row in clear], [labels[row] for row in clear]
    options = replace(CHAR_ONLY, confidence="stacked")
    model = RoutingModel.train_calibrated(texts, labels, validation_folds(labels, folds=3), options)
    assert model.confidence_model is None
    probabilities, confidence = model.predict_with_confidence(texts)
    assert np.allclose(confidence, model.calibration.apply(probabilities.max(axis=1)))


def test_an_unknown_confidence_kind_is_refused():
    texts, labels, _, _ = ticket_set()
    with pytest.raises(ValueError, match="unknown confidence"):
        RoutingModel.train(texts, labels, replace(CHAR_ONLY, confidence="vibes"))


def test_recency_weights_let_the_newer_months_decide():
    # the same matter went to 城管 in January (six times) and to 环保 in June (three times): duties moved
    noise = [f"市民来电反映: {place}工地施工噪音扰民" for place in PLACES]
    water = [f"市民来电反映: {place}自来水发黄" for place in PLACES]
    texts = noise + noise[:3] + water
    labels = ["城市管理行政执法局"] * 6 + ["环境保护局"] * 3 + ["供水公司"] * 6
    months = ["2018-01"] * 6 + ["2018-06"] * 9
    options = replace(CHAR_ONLY, class_weight_power=0.0)  # counts, not rarity, decide here
    query = ["市民来电反映: 海府路工地施工噪音扰民"]
    flat = RoutingModel.train(texts, labels, options, months=months)
    recent = RoutingModel.train(texts, labels, replace(options, recency_half_life=1.0), months=months)
    assert flat.predict(query, k=1)[0][0][0] == "城市管理行政执法局"
    assert recent.predict(query, k=1)[0][0][0] == "环境保护局"


def test_a_boosted_confidence_is_saved_and_loaded_without_running_code(tmp_path):
    texts, labels, categories, _ = ticket_set()
    options = replace(CHAR_ONLY, confidence="boosted")
    model = RoutingModel.train_calibrated(
        texts, labels, validation_folds(labels, folds=3), options, categories=categories
    )
    assert model.confidence_model is not None
    model.save(tmp_path / "model")
    loaded = RoutingModel.load(tmp_path / "model")
    assert np.allclose(loaded.confidence(texts), model.confidence(texts))
    assert np.all((loaded.confidence(texts) > 0) & (loaded.confidence(texts) < 1))
