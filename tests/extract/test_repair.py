"""Sound-alike repair with the lexicon, and sound-alike digits: each kind with its refusal case."""

from extract.lexicon import Lexicon, LexiconEntry
from extract.repair import RepairOptions, repair_digits, repair_text, repair_turns
from models import Turn, Word

LEXICON = Lexicon(
    tuple(
        LexiconEntry(term=term, kind=kind, weight=1.0)
        for term, kind in [
            ("城西路", "road"),
            ("秀英区", "district"),
            ("龙昆南路", "road"),
            ("金科嘉园", "community"),
            ("明码标价", "matter"),
            ("登革热", "matter"),
            ("政务服务便民热线", "script"),
        ]
    )
)


def _repairs(text: str, probabilities=None) -> list[tuple[str, str]]:
    return [(repair.heard, repair.written) for repair in repair_text(text, LEXICON, RepairOptions(), probabilities)]


def test_sound_alikes_of_lexicon_terms_are_repaired():
    assert _repairs("我们在成绩路那边") == [("成绩路", "城西路")]  # ji/xi: a close initial
    assert _repairs("就在修英区海口火车站") == [("修英区", "秀英区")]  # homophone
    assert _repairs("在龙昆难路旁边") == [("龙昆难路", "龙昆南路")]  # n/l
    assert _repairs("商家没有名马标价") == [("名马标价", "明码标价")]
    assert _repairs("您好，要按三四五正五服务变名热线") == [("正五服务变名热线", "政务服务便民热线")]


def test_what_the_lexicon_has_nothing_to_say_about_is_left_alone():
    for text in ("今天天气很好，我们去公园散步。", "我想咨询一下社保卡怎么办理", "他在银行工作了三年"):
        assert _repairs(text) == []


def test_ordinary_words_and_sure_words_stand():
    assert _repairs("这边已经帮您登记了") == []  # 登记了 reads as words; 登革热 only sounds close
    assert _repairs("我们在成绩路那边", probabilities=[0.99] * 8) == []  # heard surely and not a homophone
    assert _repairs("我们在成绩路那边", probabilities=[0.4] * 8) == [("成绩路", "城西路")]


def test_no_repair_across_a_syllable_that_sounds_nothing_alike():
    assert _repairs("我们在成都路那边") == []  # du vs xi: neither initial nor final


def test_digits_between_digits_in_a_number_string():
    assert [(r.heard, r.written) for r in repair_digits("号码是139洞0005286")] == [("洞", "0")]
    assert [(r.heard, r.written) for r in repair_digits("电话幺三九要二三四五六七")] == [("要", "一")]
    # refusals: a sound-alike at the edge of a number, or in a short number, stays
    assert repair_digits("号码是13812345678") == []
    assert repair_digits("我要3个") == []


def test_turns_keep_what_was_heard_and_each_repair_is_a_warning():
    words = [Word(1.0, 1.4, "我们在", 0.9), Word(1.4, 1.8, "成绩", 0.5), Word(1.8, 2.0, "路", 0.6)]
    turn = Turn("caller", "S1", 1, 1.0, 2.0, "我们在成绩路", 0.6, words)
    untouched = Turn("agent", "S0", 0, 0.0, 0.9, "请问您在哪里", 0.9, [Word(0.0, 0.9, "请问您在哪里", 0.9)])
    warnings = repair_turns([untouched, turn], LEXICON)

    assert turn.text == "我们在城西路"
    assert [(word.text, word.raw) for word in turn.words] == [("我们在", None), ("城西", "成绩"), ("路", None)]
    assert [(word.start, word.end) for word in turn.words] == [(1.0, 1.4), (1.4, 1.8), (1.8, 2.0)]
    assert untouched.text == "请问您在哪里" and untouched.words[0].raw is None
    assert [(warning.code, warning.start, warning.end) for warning in warnings] == [("repaired", 1.4, 2.0)]
    assert "成绩路 → 城西路" in warnings[0].message


def test_no_lexicon_still_repairs_digits_only():
    turn = Turn(
        "caller", "S1", 1, 0.0, 2.0, "幺三九洞零零零五二八六", 0.8, [Word(0.0, 2.0, "幺三九洞零零零五二八六", 0.8)]
    )
    warnings = repair_turns([turn], None)
    assert turn.text == "幺三九零零零零五二八六"
    assert turn.words[0].raw == "幺三九洞零零零五二八六"
    assert len(warnings) == 1


def test_a_term_the_call_is_about_is_repaired_wherever_it_was_heard():
    # the caller's words were unsure, the operator's read-back was heard "surely" as the same sound-alike
    request = Turn("caller", "S1", 1, 0.0, 2.0, "我们在成绩路那边", 0.5, [Word(0.0, 2.0, "我们在成绩路那边", 0.5)])
    readback = Turn(
        "agent", "S0", 0, 2.0, 4.0, "位置是成绩路，成绩路对吗", 0.99, [Word(2.0, 4.0, "位置是成绩路，成绩路对吗", 0.99)]
    )
    repair_turns([request, readback], LEXICON)
    assert request.text == "我们在城西路那边"
    assert readback.text == "位置是城西路，城西路对吗"  # both occurrences
    # alone, the sure read-back would have stood
    alone = Turn("agent", "S0", 0, 2.0, 4.0, "位置是成绩路对吗", 0.99, [Word(2.0, 4.0, "位置是成绩路对吗", 0.99)])
    repair_turns([alone], LEXICON)
    assert alone.text == "位置是成绩路对吗"


def _turn(text: str) -> Turn:
    return Turn("caller", "S1", 1, 0.0, 5.0, text, 0.6, [Word(0.0, 5.0, text, 0.6)])


def test_everyday_sentences_pass_the_bundled_lexicon_unchanged():
    from extract.lexicon import load_lexicon

    sentences = [
        "我想咨询一下社保卡丢了怎么补办",
        "今天下午三点左右我在公交车上把手机落下了",
        "他们家的狗每天晚上叫个不停，邻居都睡不着",
        "这个月的工资到现在还没有发，老板也联系不上",
        "孩子明年上小学，想问一下需要准备哪些材料",
    ]
    turns = [_turn(text) for text in sentences]
    assert repair_turns(turns, load_lexicon()) == []
    assert [turn.text for turn in turns] == sentences


def test_real_read_speech_references_pass_the_bundled_lexicon_unchanged(shared_data):
    """speech_real's reference sentences (news and commands read aloud) hold no hotline term."""
    import csv

    from extract.lexicon import load_lexicon

    with (shared_data / "speech_real" / "manifest.tsv").open(encoding="utf-8", newline="") as handle:
        references = [row["transcript"] for row in csv.DictReader(handle, delimiter="\t") if row["transcript"]]
    turns = [_turn(text) for text in references]
    warnings = repair_turns(turns, load_lexicon())
    assert [warning.message for warning in warnings] == []
    assert [turn.text for turn in turns] == references


def test_everyday_phrases_that_only_sound_like_a_unit_or_a_matter_stand():
    lexicon = Lexicon(
        (
            LexiconEntry(term="邮政局", kind="unit", weight=1.0),
            LexiconEntry(term="菜市场", kind="matter", weight=1.0),
            LexiconEntry(term="人力资源局", kind="unit", weight=1.0),
        )
    )
    for text in ("我有证据证明", "在建材市场门口", "人力资源部的通知"):
        assert repair_text(text, lexicon) == []
