"""Configuration files are validated one way (pydantic models, `extract.resource_files.load_config_file`): the
bundled files load, and a bad file of each kind is one ValueError of one line naming the file, the entry and
the problem."""

import pytest

from extract.catalogue import load_catalogue
from extract.classify import DEFAULT_SIGNALS, load_signals
from extract.forms import load_forms
from extract.kb import KnowledgeBase

SIGNALS = DEFAULT_SIGNALS.read_text(encoding="utf-8")
DEPARTMENT = """
  - name: 甲局
    matters:
      - name: 甲事
        category: 其他
        keywords: [甲事情]
"""
KB_ENTRY = """
  - id: card
    title: 补办社保卡
    questions: [社保卡丢了怎么办]
    answer: 带身份证到网点补办。
    plain: 带上身份证去办。
"""
FORM = """
  - id: general
    name: 诉求单
    request_types: [反映]
    required: [summary]
"""


def _error(tmp_path, name: str, text: str, load) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as raised:
        load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return message.removeprefix(f"{path}: ")


def test_the_bundled_files_load():
    assert load_catalogue().departments
    assert KnowledgeBase.load().entries
    assert load_forms()
    signals = load_signals()
    assert next(iter(signals.request_types)) == "举报", "the file's order (strongest first) is kept"
    assert signals.caller_overrides == ("举报", "投诉")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (SIGNALS.replace("  举报: [举报", "  吐槽: [举报", 1), "request_types.吐槽: unknown value '吐槽'"),
        (SIGNALS.replace("caller_overrides: [举报, 投诉]", "caller_overrides: [举报, 吐槽]"), "caller_overrides[1]"),
        (SIGNALS.replace("  您反映的: 反映", "  您反映的: 吐槽"), "operator_says.您反映的: unknown value '吐槽'"),
        (SIGNALS.replace("urgency:\n", "urgency:\n  later: [明天]\n", 1), "urgency.later: unknown value 'later'"),
        (SIGNALS.replace("emotion:", "emotions:"), "missing key 'emotion'"),
        (SIGNALS + "\nextra: []\n", "unknown key 'extra'"),
        (SIGNALS.replace("caller_overrides: [举报, 投诉]", "caller_overrides: 举报"), "expected a list"),
        ("- just a list\n", "expected a mapping at the top level"),
        ("request_types: [\n", "invalid YAML"),
    ],
)
def test_a_bad_signals_file(tmp_path, text, problem):
    load_signals.cache_clear()
    assert problem in _error(tmp_path, "signals.yaml", text, load_signals)


def test_a_caller_overrides_key_left_empty_is_no_overrides(tmp_path):
    path = tmp_path / "signals.yaml"
    path.write_text(SIGNALS.replace("caller_overrides: [举报, 投诉]", "caller_overrides:"), encoding="utf-8")
    assert load_signals(path).caller_overrides == ()


def test_a_bad_entry_is_named_by_its_place_and_its_name_or_id(tmp_path):
    catalogue = "categories: [其他]\ndepartments:" + DEPARTMENT.replace("name: 甲事", "name: 甲事\n        note: x")
    assert (
        _error(tmp_path, "c.yaml", catalogue, load_catalogue)
        == "departments[0] (甲局).matters[0] (甲事): unknown key 'note'"
    )
    kb = "entries:" + KB_ENTRY + "    department: ''\n"
    assert (
        _error(tmp_path, "kb.yaml", kb, KnowledgeBase.load)
        == "entries[0] (card).department: expected a non-empty string"
    )
    forms = "forms:" + FORM.replace("[summary]", "summary")
    assert _error(tmp_path, "forms.yaml", forms, load_forms) == "forms[0] (general).required: expected a list"


def test_a_missing_file_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(ValueError, match="cannot read the file") as raised:
        load_forms(path)
    assert str(raised.value).startswith(f"{path}: ")
