"""Knowledge base: the bundled entries validate; search orders, thresholds and caches with a fake embedder,
and finds the right entry for real caller questions with the real one."""

from pathlib import Path

import numpy as np
import pytest

from extract.catalogue import load_catalogue
from extract.kb import DEFAULT_MIN_SCORE, KbEntry, KnowledgeBase
from models import KbAnswer


class FakeEmbedder:
    """Texts map to fixed unit vectors by the first marker they contain (in dict order); records what it embeds."""

    def __init__(self, vectors: dict[str, list[float]]):
        self.vectors = {marker: np.asarray(vector, dtype=np.float32) for marker, vector in vectors.items()}
        self.passage_calls = 0
        self.embedded: list[str] = []

    def _embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            vector = next((v for marker, v in self.vectors.items() if marker in text), np.array([0, 0, 0, 1.0]))
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32)

    def passages(self, texts: list[str]) -> np.ndarray:
        self.passage_calls += 1
        self.embedded.extend(texts)
        return self._embed(texts)

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts)


def _entry(entry_id: str, title: str, questions: tuple[str, ...]) -> KbEntry:
    return KbEntry(entry_id, title, questions, f"{title}的回答", f"{title}的大白话", "社会保险事业局", ())


@pytest.fixture
def fake_kb() -> tuple[KnowledgeBase, FakeEmbedder]:
    embedder = FakeEmbedder(
        {
            "问社保卡和养老": [0.9, 0.436, 0, 0],
            "社保卡": [1, 0, 0, 0],
            "养老": [0.8, 0.6, 0, 0],
            "公积金": [0, 0, 1, 0],
        }
    )
    entries = [
        _entry("card", "社保卡补办", ("社保卡丢了",)),
        _entry("pension", "养老金认证", ("养老金怎么认证", "社保卡能领养老金吗")),
        _entry("fund", "公积金提取", ("公积金怎么取",)),
    ]
    return KnowledgeBase(entries, embedder=embedder), embedder


def test_search_orders_by_the_best_text_of_each_entry(fake_kb):
    kb, _ = fake_kb
    answers = kb.search("问社保卡和养老", k=3, min_score=0.0)
    assert [answer.entry_id for answer in answers] == ["pension", "card", "fund"]
    # pension's best text is its 养老 question (0.9*0.8 + 0.436*0.6 ≈ 0.98) over its 社保卡 one (0.9)
    assert answers[0].score == pytest.approx(0.9 * 0.8 + 0.436 * 0.6, abs=2e-3)
    assert answers[1].score == pytest.approx(0.9, abs=2e-3)
    assert isinstance(answers[0], KbAnswer)
    assert answers[0].answer == "养老金认证的回答"
    assert answers[0].plain == "养老金认证的大白话"
    assert answers[0].department == "社会保险事业局"


def test_search_applies_k_and_the_threshold(fake_kb):
    kb, _ = fake_kb
    assert [answer.entry_id for answer in kb.search("问社保卡和养老", k=1, min_score=0.0)] == ["pension"]
    assert [answer.entry_id for answer in kb.search("问社保卡和养老", k=3, min_score=0.95)] == ["pension"]
    assert kb.search("问社保卡和养老", k=3, min_score=0.99) == []
    assert kb.search("今天天气怎么样", min_score=0.5) == []
    assert kb.search("   ") == []
    assert kb.search("公积金", k=0) == []


def test_entry_texts_are_embedded_once(fake_kb):
    kb, embedder = fake_kb
    kb.search("社保卡")
    kb.search("公积金")
    assert embedder.passage_calls == 1
    assert embedder.embedded == [
        "社保卡补办",
        "社保卡丢了",
        "养老金认证",
        "养老金怎么认证",
        "社保卡能领养老金吗",
        "公积金提取",
        "公积金怎么取",
    ]


def test_an_empty_knowledge_base_finds_nothing():
    assert KnowledgeBase([], embedder=FakeEmbedder({})).search("社保卡") == []


def test_bundled_knowledge_base_validates():
    kb = KnowledgeBase.load(embedder=FakeEmbedder({}))
    assert 30 <= len(kb.entries) <= 45
    catalogue = load_catalogue()
    departments = {dept.name for dept in catalogue.departments}
    for entry in kb.entries:
        assert entry.department in departments, entry.entry_id
        assert 2 <= len(entry.questions) <= 4, entry.entry_id
        assert entry.answer and entry.plain and entry.tags
        # the plain version is a translation, not a copy
        assert entry.plain != entry.answer


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


ENTRY = """
  - id: {id}
    title: 标题
    questions: [问题一, 问题二]
    answer: 回答
    plain: 大白话
"""


def test_a_folder_of_files_loads_in_name_order(tmp_path):
    _write(tmp_path, "b.yaml", "entries:" + ENTRY.format(id="second"))
    _write(tmp_path, "a.yaml", "entries:" + ENTRY.format(id="first") + "    department: 民政局\n    tags: [12345]\n")
    _write(tmp_path, "notes.txt", "not yaml")
    kb = KnowledgeBase.load(tmp_path, embedder=FakeEmbedder({}))
    assert [entry.entry_id for entry in kb.entries] == ["first", "second"]
    assert kb.entries[0].department == "民政局"
    assert kb.entries[0].tags == ("12345",)
    assert kb.entries[1].department is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("entries: [\n", "invalid YAML"),
        ("- id: x\n", "'entries' list"),
        ("entries:\n  - id: x\n    title: t\n    questions: [q]\n    answer: a\n", "missing key 'plain'"),
        ("entries:" + ENTRY.format(id="x") + "    answr: typo\n", "unknown key 'answr'"),
        ("entries:" + ENTRY.format(id="x").replace("[问题一, 问题二]", "[]"), "no questions"),
        ("entries:" + ENTRY.format(id="x") + ENTRY.format(id="x"), "duplicate"),
    ],
)
def test_bad_knowledge_base_files_raise_one_line_value_errors_naming_the_file(tmp_path, text, problem):
    path = _write(tmp_path, "kb.yaml", text)
    with pytest.raises(ValueError) as raised:
        KnowledgeBase.load(path)
    message = str(raised.value)
    assert str(path) in message
    assert problem in message
    assert "\n" not in message


def test_an_id_repeated_across_files_names_the_second_file(tmp_path):
    _write(tmp_path, "a.yaml", "entries:" + ENTRY.format(id="same"))
    second = _write(tmp_path, "b.yaml", "entries:" + ENTRY.format(id="same"))
    with pytest.raises(ValueError, match="duplicate knowledge-base entry id 'same'") as raised:
        KnowledgeBase.load(tmp_path)
    assert str(second) in str(raised.value)


def test_real_embedder_finds_the_entry_for_caller_questions_and_nothing_for_a_complaint():
    kb = KnowledgeBase.load()
    expected = {
        "我的社保卡丢了，要去哪里补一张新的": "social-card-replace",
        "我要带我爸去外地住院，医保要先办什么手续": "medical-offsite-filing",
        "我在外面租房，公积金可以取出来吗": "housing-fund-withdrawal",
        "我的驾驶证快过期了，怎么换新的": "driving-licence-renewal",
    }
    for question, entry_id in expected.items():
        answers = kb.search(question)
        assert answers and answers[0].entry_id == entry_id, (question, answers)
        assert answers[0].score >= DEFAULT_MIN_SCORE
    assert kb.search("我家楼下的烧烤店每天晚上吵到半夜，油烟还特别大") == []
