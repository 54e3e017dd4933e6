"""Field extractors on calls written the way operators and callers talk."""

import pytest
from extract_builders import CALL_START, transcript_of

from extract.address import DeploymentPlace, correct_districts, extract_address
from extract.classify import extract_emotion, extract_request_type, extract_urgency, load_signals
from extract.document import build_document
from extract.masking import mask_numbers
from extract.person import extract_person
from extract.phone import extract_id_number, extract_phone
from extract.summary import extract_summary
from extract.timex import extract_event_time

A, C = "agent", "caller"


def doc(*turns, with_words=False):
    return build_document(transcript_of(*turns, with_words=with_words))


def test_spoken_number_confirmed_by_read_back_is_the_phone_with_evidence_in_both_turns():
    document = doc(
        (A, "请问您的联系方式是？"),
        (C, "幺三幺，幺七七二，二六四幺。"),
        (A, "跟您核对一下，一三一，一七七二，二六四一，对吗？"),
        (C, "是的。"),
        with_words=True,
    )
    phone = extract_phone(document, ani="17868549822")
    assert phone.value == "13117722641"
    assert phone.source == "spoken"
    assert phone.confidence >= 0.9
    assert [evidence.turn for evidence in phone.evidence] == [1, 2]
    said = phone.evidence[0]
    assert said.text == "幺三幺，幺七七二，二六四幺"
    assert (said.start_char, said.end_char) == (0, 13)
    turn_start = document.turns[1].start
    assert said.start_time == pytest.approx(turn_start, abs=0.01)
    assert said.end_time == pytest.approx(turn_start + 0.2 * 13, abs=0.01)


def test_this_number_means_the_calling_number():
    document = doc((A, "好的，方便留一个联系电话吗？"), (C, "就打我现在这个号码就行。"))
    phone = extract_phone(document, ani="13322442453")
    assert (phone.value, phone.source) == ("13322442453", "ani")
    assert phone.evidence[0].turn == 1
    confirmed = doc((A, "请问联系电话是您现在来电的这个号码吗？"), (C, "对，就是我现在打的这个号码。"))
    assert extract_phone(confirmed, ani="19160147338").value == "19160147338"


def test_a_different_number_wins_over_the_ani_when_the_caller_says_not_this_one():
    document = doc(
        (A, "请问联系电话是您现在来电的这个号码吗？"),
        (C, "不是，你记一下这个号码，幺八幺，九幺二二，幺六八幺。"),
    )
    assert extract_phone(document, ani="15592194070").value == "18191221681"
    # the other number one digit away from the ANI (a family plan) stays what was said
    assert extract_phone(document, ani="18191221682").value == "18191221681"
    misheard = doc((A, "请问联系电话是您现在来电的这个号码吗？"), (C, "不是，你记一下，幺五九五次邀请最"))
    other = extract_phone(misheard, ani="17399227531")
    assert other.value is None and other.evidence[0].text == "不是"


def test_a_spoken_number_a_digit_or_two_from_the_calling_number_is_the_calling_number_misheard():
    read_back_wrong = doc(
        (A, "麻烦留一下您的联系电话。"),
        (C, "电话是幺三四，二八六八，九六八幺。"),
        (A, "跟您核对一下，一三四，二八六八，六六八，幺，对吗？"),
        (C, "是的。"),
    )
    phone = extract_phone(read_back_wrong, ani="13428689681")
    assert (phone.value, phone.source) == ("13428689681", "spoken")
    assert phone.confidence >= 0.9  # said and the telephony's number agree
    both_wrong = doc(
        (A, "请问联系电话是您现在来电的这个号码吗？"),
        (C, "对，19 8,2 80,0 55 69,"),
        (A, "跟您核对一下，19 8,2 80,0 55 69，对吗？"),
        (C, "对的。"),
    )
    matched = extract_phone(both_wrong, ani="19828100569")
    assert (matched.value, matched.source) == ("19828100569", "ani_matched")
    assert matched.raw.startswith("19 8,2 80,0 55 69") and matched.evidence
    assert 0.5 < matched.confidence < 0.9  # a correction the operator should see
    assert extract_phone(both_wrong, ani="13922446688").value == "19828005569"  # far from the ANI: as said


def test_digits_whisper_writes_as_letters_or_leaves_in_chinese_are_read_as_digits():
    letter = doc((A, "方便留一个联系电话吗？"), (C, "L 30,6 46 3,8 30 4好的，"))
    assert extract_phone(letter, ani=None).value == "13064638304"
    left_in_chinese = doc((A, "麻烦留一下您的联系电话。"), (C, "连规信零，电话是十一三四：2868：968，幺"))
    assert extract_phone(left_in_chinese, ani=None).value == "13428689681"
    # a Chinese digit away from digits stays a word
    words = doc((A, "请问您的联系电话？"), (C, "我想问一下，就是那个三四天前的事"))
    assert extract_phone(words, ani=None).value is None


def test_no_number_said_falls_back_to_the_ani_with_low_confidence_and_none_without_it():
    document = doc((A, "您好"), (C, "我家门口路灯坏了"))
    fallback = extract_phone(document, ani="13800138000")
    assert fallback.value == "13800138000" and fallback.confidence < 0.5
    assert extract_phone(document, ani=None).value is None


def test_the_hotline_number_and_misheard_numbers_are_not_taken_at_face_value():
    document = doc((A, "您好，幺二三四五热线"), (C, "电话是幺零零，幺七七二，二六四"))
    phone = extract_phone(document, ani=None)
    assert phone.value != "12345"
    assert phone.value is None or phone.confidence < 0.5


def test_id_numbers_are_masked_and_validated():
    document = doc((A, "请提供身份证号"), (C, "幺幺零幺零五幺九四九幺二三幺零零二X"))
    field = extract_id_number(document)
    assert field.value == "110105********002X"
    assert field.confidence >= 0.9
    assert mask_numbers("电话13117722641，身份证11010519491231002X") == "电话131****2641，身份证110105********002X"


def test_surname_and_honorific_from_the_operator_full_name_from_the_answer():
    document = doc(
        (A, "好的，这边帮您登记，请问您贵姓？"),
        (C, "陈晓东。"),
        (A, "好的，陈先生，请问您的联系电话是多少？"),
    )
    person = extract_person(document)
    assert person.caller_name.value == "陈晓东"
    assert person.caller_surname.value == "陈"
    assert person.honorific.value == "先生"
    surname_only = extract_person(doc((A, "请问您贵姓？"), (C, "我姓符，符号的符。"), (A, "好的，符女士")))
    assert (surname_only.caller_name.value, surname_only.caller_surname.value) == (None, "符")
    assert surname_only.honorific.value == "女士"


def test_a_name_answer_split_from_its_wo_is_found_and_a_road_is_no_spelled_surname():
    document = doc(
        (C, "九山区府城县后街16号民房路段的路灯不亮"),
        (A, "好的，这边帮您登记，请问您贵姓我"),
        (C, "叫李慧敏好"),
        (A, "好的，方便留一个联系电话吗？"),
    )
    person = extract_person(document)
    assert (person.caller_name.value, person.caller_surname.value) == ("李慧敏", "李")
    road_only = extract_person(doc((C, "民房路段的路灯不亮"), (A, "好的")))
    assert road_only.caller_surname.value is None


def test_a_refused_name_stays_empty_with_the_refusal_as_evidence():
    person = extract_person(doc((A, "好的，麻烦留一下您的姓名。"), (C, "这个不方便透露。")))
    assert person.caller_name.value is None and person.caller_surname.value is None
    assert person.caller_name.source == "declined" and person.caller_name.evidence


def test_confirmed_read_back_gives_the_address_split_into_levels():
    document = doc(
        (C, "龙华区金贸西路二十八杠一号世贸天骄小区门口一直有人乱停车"),
        (A, "好的，您说的位置是在龙华区金贸街道金贸西路28-1号世贸天骄小区，对吗？"),
        (C, "对的。"),
    )
    fields = extract_address(document)
    assert fields.address.value == "龙华区金贸街道金贸西路28-1号世贸天骄小区"
    assert fields.address.confidence >= 0.9
    assert (fields.province.value, fields.city.value, fields.district.value) == ("海南省", "海口市", "龙华区")
    assert fields.street.value == "金贸街道"
    assert fields.address_detail.value.startswith("金贸西路28-1号")
    assert {evidence.turn for evidence in fields.address.evidence} >= {1}


def test_answer_to_where_and_homophone_districts_are_corrected():
    document = doc((A, "请问事发地点具体在哪里？"), (C, "就在修英区海交路一百八十二号。"))
    fields = extract_address(document)
    assert fields.address.value == "秀英区海交路182号"
    assert fields.address.raw == "修英区海交路182号"
    assert fields.district.value == "秀英区"
    assert correct_districts("修英区", DeploymentPlace()) == "秀英区"
    other_city = extract_address(doc((A, "地址是？"), (C, "在深圳市南山区科技园")), DeploymentPlace())
    assert other_city.city.value == "深圳市"


def test_place_named_in_the_request_is_a_low_confidence_address():
    fields = extract_address(doc((C, "美兰区海秀东路银达大厦有线电视信号又丢失了")))
    assert fields.address.value and "银达大厦" in fields.address.value
    assert fields.address.confidence <= 0.5
    assert extract_address(doc((C, "你好"))).address.value is None


def test_event_time_is_resolved_against_the_call_start_in_its_own_time_zone():
    document = doc((C, "一月十三号十二点左右，公共厕所关了"), (A, "工作人员会在30分钟内联系您"))
    field = extract_event_time(document, CALL_START)
    assert field.value == "2018-01-13T12:00"
    assert field.raw == "1月13号12点左右"
    yesterday = extract_event_time(doc((C, "昨天晚上八点")), CALL_START)
    assert yesterday.value == "2018-01-12T20:00"
    assert extract_event_time(doc((C, "工作人员说30分钟内回复")), CALL_START).value is None
    assert extract_event_time(doc((C, "昨天")), None).confidence <= 0.5


def test_a_day_of_the_month_alone_is_a_weak_event_time_and_a_fuller_one_said_later_wins():
    greeting_misheard = doc((C, "1号，我想反映一下我们小区电梯坏了"))
    weak = extract_event_time(greeting_misheard, CALL_START)
    assert weak.value == "2018-01-01" and weak.confidence <= 0.5
    fuller = doc((C, "1号，我想反映一下"), (A, "什么时候的事？"), (C, "一月十三号十二点左右"))
    assert extract_event_time(fuller, CALL_START).value == "2018-01-13T12:00"


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        (((C, "我要投诉这个出租车司机拒载"),), "投诉"),
        (((C, "我想举报有人无证经营"),), "举报"),
        (((C, "我想问一下社保卡怎么办理"),), "咨询"),
        (((C, "我们小区路灯坏了很久没人管"),), "反映"),
        (((C, "建议这条路增设红绿灯"),), "建议"),
        (((C, "路灯坏了"), (A, "跟您确认一下，您咨询的问题是路灯，对吗？")), "咨询"),
    ],
)
def test_request_type(turns, expected):
    assert extract_request_type(doc(*turns), load_signals()).value == expected


def test_urgency_and_emotion_from_the_callers_words():
    signals = load_signals()
    gas = doc((C, "楼道里好大的煤气味，我很担心，赶紧派人来"))
    assert extract_urgency(gas, signals).value == "urgent"
    assert extract_emotion(gas, signals).value == "anxious"
    angry = doc((C, "反映了好多次一直没解决，你们推来推去，太过分了"))
    assert extract_emotion(angry, signals).value == "angry"
    calm = doc((C, "我想问一下公积金怎么提取"))
    assert (extract_urgency(calm, signals).value, extract_emotion(calm, signals).value) == ("normal", "calm")


def test_summary_is_the_callers_request_in_written_style_without_operator_chatter():
    document = doc(
        (A, "您好，幺二三四五政务服务便民热线，很高兴为您服务，请问有什么可以帮您？"),
        (C, "你好，我想反映一下，我家楼下的烧烤店每天晚上十二点还在营业，油烟很大。"),
        (A, "好的，请问您贵姓？"),
        (C, "我姓王。"),
        (A, "请问您的联系方式是？"),
        (C, "幺三八，幺二三四，五六七八。"),
    )
    summary = extract_summary(document, "反映")
    assert summary.value == "市民来电反映：其家楼下的烧烤店每天晚上12点还在营业，油烟很大。"
    assert "热线" not in summary.value and "1381234" not in summary.value and "王" not in summary.value
    assert summary.evidence[0].turn == 1


def test_a_confirmed_read_back_is_the_summary_when_the_callers_words_give_nothing():
    document = doc(
        (C, "嗯，对"),
        (A, "跟您确认一下，您反映的是秀英区泰达比华利小区电梯经常故障的问题，对吗？"),
        (C, "对，是的。"),
    )
    summary = extract_summary(document, "反映")
    assert summary.value == "市民来电反映：秀英区泰达比华利小区电梯经常故障。"
    own_words = extract_summary(doc((C, "那个，就是我们小区电梯老是坏"), *document_turns_of_readback()), "反映")
    assert own_words.value == "市民来电反映：其小区电梯老是坏。" and own_words.source == "caller_turns"
    assert summary.source == "operator_readback"


def test_no_caller_words_no_summary():
    assert extract_summary(doc((A, "您好")), "咨询").value is None


def test_phone_numbers_as_whisper_writes_them_are_read_and_a_fragment_never_beats_a_read_back():
    document = doc(
        (A, "众女士请问您的联系方式"),
        (C, "数要3要，要7 72,26 4要跟"),
        (A, "您合对一下，1 31,17 72,26 41,"),
        (C, "对吗？是的好的，"),
    )
    assert extract_phone(document, ani="17868549822").value == "13117722641"
    fragment = doc((A, "请问您的联系电话是多少？"), (C, "1-5-2-4-6-8-6-1-7-1-"))
    fallback = extract_phone(fragment, ani="17868549822")
    assert (fallback.value, fallback.source) == ("17868549822", "ani_fallback")
    assert fallback.confidence < 0.5 and fallback.raw == "1-5-2-4-6-8-6-1-7-1"
    assert extract_phone(fragment, ani=None).value == "1524686171"


def test_district_names_whisper_misspells_are_recognised_but_roads_named_after_districts_stay():
    place = DeploymentPlace()
    assert correct_districts("秀阴局长线路", place) == "秀英区长线路"
    assert correct_districts("龙华契金肯路", place) == "龙华区金肯路"
    assert correct_districts("美兰七龙舌坡社区", place) == "美兰区龙舌坡社区"
    for unchanged in ("龙华路", "龙华西路", "九山齐府城", "我想问一下"):
        assert correct_districts(unchanged, place) == unchanged
    garbled = extract_address(doc((C, "我在美兰七龙蛇坡社区"), (A, "请问具体地址？"), (C, "就在那个边上")))
    assert garbled.district.value == "美兰区"


def test_a_district_the_city_lacks_before_a_street_is_the_one_it_has_a_syllable_away():
    place = DeploymentPlace()
    assert correct_districts("我在松山区滨江街道", place) == "我在琼山区滨江街道"
    assert correct_districts("松山区的天气", place) == "松山区的天气"  # no address follows
    assert correct_districts("美华区龙昆南路", place) == "美华区龙昆南路"  # 美兰区 or 龙华区: not guessed
    assert correct_districts("广州天河区体育西路", place) == "广州天河区体育西路"


def test_recurring_times_are_not_event_times_and_name_answers_stay_out_of_the_summary():
    assert extract_event_time(doc((C, "每天晚上都挖到十二点多")), CALL_START).value is None
    document = doc(
        (C, "楼下的工地天天晚上施工，吵得没法休息。"), (A, "怎么称呼"), (C, "我姓王。"), (C, "好的，谢谢，再见")
    )
    assert extract_summary(document, "反映").value == "市民来电反映：楼下的工地天天晚上施工，吵得没法休息。"


def document_turns_of_readback():
    return (
        (A, "跟您确认一下，您反映的是秀英区泰达比华利小区电梯经常故障的问题，对吗？"),
        (C, "对，是的。"),
    )


HAINAN = {"陈": 1.0, "王": 0.99, "符": 0.93, "邢": 0.87}


def test_a_surname_heard_as_a_sound_alike_is_found_by_sound_with_the_province_first():
    # 免贵姓符 heard as 免贵幸福, the operator's 符先生 as 佛先生 (as Whisper base wrote one shared call)
    person = extract_person(
        doc((A, "好的，麻烦留一下您的姓名。"), (C, "免贵幸福，"), (A, "好的，佛先生，方便留一个联系电话吗？")), HAINAN
    )
    assert person.caller_surname.value == "符"
    assert person.caller_surname.raw == "福、佛"
    assert person.caller_surname.confidence < 0.9  # not heard as itself: the operator should glance at it
    assert [evidence.turn for evidence in person.caller_surname.evidence] == [1, 2]
    assert person.honorific.value == "先生" and person.honorific.confidence == 0.9
    # spelled out and heard wrong, the operator's 女士 heard as 女是
    spelled = extract_person(doc((A, "请问您贵姓？"), (C, "我进服务局服候的服"), (A, "好的，福女是")), HAINAN)
    assert (spelled.caller_surname.value, spelled.honorific.value) == ("符", "女士")
    # without a regional list the national order decides between 付/傅/符
    assert extract_person(doc((A, "请问您贵姓？"), (C, "免贵幸福"))).caller_surname.value == "付"


def test_a_surname_heard_as_itself_is_not_overruled_by_the_province():
    person = extract_person(doc((A, "请问您贵姓？"), (C, "我姓付。"), (A, "好的，付女士")), HAINAN)
    assert person.caller_surname.value == "付" and person.caller_surname.confidence >= 0.9


def test_words_before_a_title_that_only_sound_like_surnames_are_not_names():
    person = extract_person(doc((A, "这位女士您好，请问有什么可以帮您？"), (C, "我想咨询一下社保。")), HAINAN)
    assert person.caller_surname.value is None
    assert person.honorific.value is None


def test_an_operator_read_back_counts_when_the_callers_yes_was_not_recognised():
    # mono call: the caller's "对的" misheard ("最等", as on the demo call), the caller's own number lost a digit
    document = doc(
        (A, "请问您的联系方式"),
        (C, "要317 72 26 4要"),
        (A, "您核对一下1 31 17 72 26 4 1对吗"),
        (C, "最等好的"),
    )
    phone = extract_phone(document, ani="17868549822")
    assert phone.value == "13117722641"
    assert phone.source == "spoken"
    assert 0.8 <= phone.confidence < 0.95


def test_a_district_heard_loosely_is_corrected_only_where_an_address_follows():
    place = DeploymentPlace("海南省", "海口市")
    assert correct_districts("海口市求山气龙昆南路道客村村口", place) == "海口市琼山区龙昆南路道客村村口"
    assert correct_districts("我求山气", place) == "我求山气"  # no road after it: not an address


def test_a_house_number_whisper_split_is_joined_and_the_read_back_may_end_with_a_full_stop():
    document = doc((A, "您说的位置是在秀英区海交路18 2号。对吗？"), (C, "对的。"))
    address = extract_address(document, DeploymentPlace("海南省", "海口市"))
    assert address.address.value == "秀英区海交路182号"
    assert address.address.confidence == 0.9


def test_places_named_after_a_district_and_generic_place_words_heard_wrong():
    place = DeploymentPlace("海南省", "海口市")
    assert correct_districts("琼山区建国路原熊山医院", place) == "琼山区建国路原琼山医院"
    assert correct_districts("在秀阴小学门口", place) == "在秀英小学门口"  # not 秀英区学
    document = doc((A, "您说的位置是在美兰区海秀东路银达大上了？对吗？"), (C, "对。"))
    address = extract_address(document, place)
    assert address.address.value == "美兰区海秀东路银达大厦"
    assert address.address.raw == "美兰区海秀东路银达大上"
    # a place that ends in a suffix of its own keeps it (苑 is no misheard 园)
    kept = extract_address(doc((A, "您说的位置是在海垦花苑，对吗？"), (C, "对。")), place)
    assert kept.address.value == "海垦花苑"


def test_an_address_ending_in_a_word_of_its_own_keeps_it():
    place = DeploymentPlace("海南省", "海口市")
    document = doc((A, "您说的位置是在龙华区海濂路东林小区物业公司，对吗？"), (C, "对。"))
    assert extract_address(document, place).address.value == "龙华区海濂路东林小区物业公司"  # not 物业工地
