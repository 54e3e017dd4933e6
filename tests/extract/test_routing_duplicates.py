"""Near-duplicate past tickets as evidence (RoutingOptions.duplicate_similarity / duplicate_weight): the units of the
training tickets almost identical to a text are blended into its probabilities, on a hand-made set whose embeddings
the test chooses."""

from dataclasses import replace

import numpy as np
import pytest

from extract.routing import RoutingModel, RoutingOptions

WATER, TRAFFIC, PARKS = "供水公司", "公安局交通警察支队", "园林局"
TRAINING = [
    ("金盘路停水一整天", WATER),
    ("海府路自来水发黄", WATER),
    ("滨涯路水管爆裂漏水", WATER),
    ("白龙路车辆违停堵门", TRAFFIC),
    ("长滨路红绿灯坏了", TRAFFIC),
    ("府城路口电动车逆行", TRAFFIC),
    ("万绿园树木倒伏", PARKS),
    ("人民公园草坪枯死", PARKS),
    ("金牛岭公园树枝断落", PARKS),
]
# The repeat of a ticket routed to traffic police although it reads like water supply: the label the hotline gave it.
REPEATED = "金盘路停水一整天"
QUERY_REPEAT = "金盘路又停水一整天"
QUERY_NEW = "龙昆路下水道堵塞"


class TableEncoder:
    """Unit vectors the test chooses: each training text its own axis, the repeat query on its original's axis
    (cosine 1), anything else on a last axis no training ticket is near."""

    def __init__(self):
        self.axes = {text: axis for axis, (text, _) in enumerate(TRAINING)}
        self.axes[QUERY_REPEAT] = self.axes[REPEATED]
        self.size = len(TRAINING) + 1

    def passages(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.size), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row, self.axes.get(text, self.size - 1)] = 1.0
        return vectors


@pytest.fixture(scope="module")
def model() -> RoutingModel:
    texts = [text for text, _ in TRAINING] + [REPEATED]
    labels = [label for _, label in TRAINING] + [TRAFFIC]  # the same text once more, routed elsewhere
    return RoutingModel.train(texts, labels, RoutingOptions(duplicate_weight=0.0), encoder=TableEncoder())


def with_options(model: RoutingModel, **options) -> RoutingModel:
    """The same fitted model, predicting with other duplicate options."""
    changed = RoutingModel(
        replace(model.options, **options),
        model.labels,
        model._vectorizer,
        model._char_classifier,
        model._embedding_classifier,
        model.training_size,
        encoder=model._encoder,
        neighbour_index=model._neighbours,
    )
    return changed


def test_near_duplicates_vote_one_each_with_the_duplicate_weight(model):
    before = model.predict_proba([QUERY_REPEAT])[0]
    after = with_options(model, duplicate_weight=0.4).predict_proba([QUERY_REPEAT])[0]
    # two training tickets are the same text: one routed to water supply, one to traffic police, half a vote each
    vote = np.zeros(len(model.labels))
    vote[model.labels.index(WATER)] = 0.5
    vote[model.labels.index(TRAFFIC)] = 0.5
    assert after == pytest.approx(0.6 * before + 0.4 * vote)
    assert after.sum() == pytest.approx(1.0)
    assert after[model.labels.index(PARKS)] < before[model.labels.index(PARKS)]


def test_a_text_without_near_duplicates_is_left_as_it_is(model):
    before = model.predict_proba([QUERY_NEW, QUERY_REPEAT])
    after = with_options(model, duplicate_weight=0.4).predict_proba([QUERY_NEW, QUERY_REPEAT])
    assert np.array_equal(after[0], before[0])
    assert not np.allclose(after[1], before[1])


def test_the_similarity_bar_decides_what_is_a_near_duplicate(model):
    # nothing reaches a bar above the largest cosine (1.0): no change
    before = model.predict_proba([QUERY_REPEAT])
    assert np.array_equal(
        with_options(model, duplicate_weight=0.4, duplicate_similarity=1.01).predict_proba([QUERY_REPEAT]), before
    )
    # a bar of 0 makes every training ticket a duplicate: the vote is the units' shares of the training tickets
    everything = with_options(model, duplicate_weight=1.0, duplicate_similarity=0.0).predict_proba([QUERY_NEW])[0]
    assert everything[model.labels.index(TRAFFIC)] == pytest.approx(4 / 10)
    assert everything[model.labels.index(PARKS)] == pytest.approx(3 / 10)


def test_duplicate_weight_out_of_range_is_refused():
    texts = [text for text, _ in TRAINING]
    labels = [label for _, label in TRAINING]
    with pytest.raises(ValueError, match="duplicate_weight"):
        RoutingModel.train(texts, labels, RoutingOptions(duplicate_weight=1.5), encoder=TableEncoder())
