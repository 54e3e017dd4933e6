"""The duty catalogue: the bundled file validates, names resolve, caller sentences route by keyword."""

import csv
import math
from pathlib import Path

import pytest

from extract.catalogue import Catalogue, CatalogueMatch, Department, Matter, load_catalogue


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_bundled_catalogue_loads_and_is_cached(catalogue):
    assert load_catalogue() is catalogue
    assert len(catalogue.departments) >= 45
    assert len(catalogue.out_of_scope) >= 8
    names = [dept.name for dept in catalogue.departments]
    assert len(names) == len(set(names))
    for dept in catalogue.departments:
        for matter in dept.matters:
            assert matter.department == dept.name
            assert matter.category in catalogue.categories
            assert matter.keywords
    assert {"城市管理", "交通出行", "水电气热", "劳动社保"} <= set(catalogue.categories)


def test_every_name_and_alias_is_its_own_canonical_spelling(catalogue):
    for dept in catalogue.departments:
        assert catalogue.canonical(dept.name) == dept.name
        for alias in dept.aliases:
            assert catalogue.canonical(alias) == dept.name, alias


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("工商局", "市场监督管理局"),
        ("工商行政管理局", "市场监督管理局"),
        ("食品药品监督管理局", "市场监督管理局"),
        ("物价局", "市场监督管理局"),
        ("政府服务中心", "政务服务中心"),
        ("政务中心", "政务服务中心"),
        ("环保局", "生态环境局"),
        ("卫计委", "卫生健康委员会"),
        ("卫生与计划生育委员会", "卫生健康委员会"),
        ("交警", "公安局交通警察支队"),
        # city, district and lone prefixes
        ("海口市公安局", "公安局"),
        ("市公安局交通警察支队", "公安局交通警察支队"),
        ("海口市美兰区物价监督检查局", "市场监督管理局"),
        ("龙华区城管局", "城市管理行政执法局"),
        ("海口工商局", "市场监督管理局"),
        ("美兰区人民政府", "区人民政府"),
        ("海口市人民政府", "人民政府办公室"),
        ("秀英区长流镇政府", "街道办事处"),
        ("龙华区金贸街道办", "街道办事处"),
        # company and branch suffixes
        ("海口威立雅水务有限公司", "供水公司"),
        ("中国移动海南分公司", "中国移动"),
        ("中国铁塔股份有限公司海口市分公司", "铁塔公司"),
        ("会展局（贸促会）", "商务局"),
        ("  交警支队 ", "公安局交通警察支队"),
    ],
)
def test_canonical_resolves_aliases_and_prefixed_names(catalogue, name, expected):
    assert catalogue.canonical(name) == expected


def test_unknown_names_come_back_without_their_place_prefix(catalogue):
    assert catalogue.canonical("海口市民族宗教事务局") == "民族宗教事务局"
    assert catalogue.canonical("美兰区某某服务站") == "某某服务站"
    assert catalogue.canonical("某某服务站") == "某某服务站"
    # "市场…" and "开发区…" are not place prefixes
    assert catalogue.canonical("市场发展服务站") == "市场发展服务站"
    assert catalogue.canonical("") == ""
    assert catalogue.department("海口市公安局").name == "公安局"
    assert catalogue.department("民族宗教事务局") is None


def test_every_haikou_ticket_unit_resolves_to_a_catalogue_department(catalogue, shared_data):
    with (shared_data / "haikou12345" / "tickets.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = {dept.name for dept in catalogue.departments}
    labels = {row["处置单位"] for row in rows}
    assert len(labels) > 100
    assert sorted(label for label in labels if catalogue.canonical(label) not in names) == []
    raw = {row["原处置单位"] for row in rows}
    assert sorted(unit for unit in raw if catalogue.canonical(unit) not in names) == []
    # labels_merge.txt lists more units; a few of its entries are broken labels, not units
    noise = {"无效数据", "单位", "公室", "人民公厅"}
    lines = (shared_data / "haikou12345" / "labels_merge.txt").read_text(encoding="utf-8").splitlines()
    merged = [line.split(",")[0] for line in lines]
    unresolved = [unit for unit in merged if unit and unit not in noise and catalogue.canonical(unit) not in names]
    assert unresolved == []


MATCH_CASES = [
    ("我家门口天天有人乱停车，车都开不出去", "公安局交通警察支队", "违法停车"),
    ("我们小区从早上就没水了，到现在都没来水", "供水公司", "停水与水压"),
    ("我在车站打了个出租车，司机拒载还骂人", "交通运输局", "出租车服务"),
    ("老板拖欠我们三个月工资不发", "劳动保障监察支队", "拖欠工资"),
    ("楼道里有很浓的煤气味，是不是燃气泄漏了", "燃气公司", "燃气泄漏与安全"),
    ("晚上楼下广场舞音响声音太大，吵得睡不着", "公安局", "社会生活噪声扰民"),
    ("工地晚上十二点还在施工，噪音太大", "城市管理行政执法局", "施工噪音与工地管理"),
    ("路灯坏了好几天了，晚上黑灯瞎火的", "市政设施管理中心", "路灯"),
    ("下水道堵了，污水冒出来了", "水务局", "排水与内涝"),
    ("我们这边又停电了，什么时候来电", "供电局", "停电与电力故障"),
    ("在网上买的东西质量有问题，商家不给退货", "市场监督管理局", "消费维权"),
    ("联通的宽带老是断网", "中国联通", "联通通信服务"),
    ("饭店油烟太大，窗户都不敢开", "城市管理行政执法局", "餐饮油烟与露天烧烤"),
]


@pytest.mark.parametrize(("text", "department", "matter"), MATCH_CASES)
def test_match_ranks_the_right_department_first(catalogue, text, department, matter):
    matches = catalogue.match(text)
    assert matches, text
    assert (matches[0].department, matches[0].matter) == (department, matter)


def test_match_spans_point_at_the_keywords_in_the_text(catalogue):
    text = "你好，我们小区楼下有人乱停车，还有人摆摊。"
    matches = catalogue.match(text)
    by_department = {match.department: match for match in matches}
    parking = by_department["公安局交通警察支队"]
    assert [text[start:end] for start, end in parking.spans] == ["乱停车"]
    assert parking.keywords == ("乱停车",)
    stalls = by_department["城市管理行政执法局"]
    assert [text[start:end] for start, end in stalls.spans] == ["摆摊"]


def test_match_prefers_the_longest_keyword_and_keeps_offsets_of_full_width_text(catalogue):
    # "水管爆了" must not also count as the shorter words inside it
    text = "ＡＢ路口的水管爆了"
    match = catalogue.match(text)[0]
    assert match.department == "供水公司"
    assert [text[start:end] for start, end in match.spans] == ["水管爆了"]


def test_match_scores_are_bounded_sorted_and_one_per_department(catalogue):
    text = "小区没水了，水压小，水管爆了，还停电，物业也不管，门口乱停车，垃圾没人收，路灯不亮"
    matches = catalogue.match(text, k=20)
    scores = [match.score for match in matches]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < score <= 1.0 for score in scores)
    departments = [match.department for match in matches]
    assert len(departments) == len(set(departments))
    assert matches[0].department == "供水公司"  # three water keywords beat one of anything else
    assert len(catalogue.match(text, k=2)) == 2
    assert catalogue.match("") == []
    assert catalogue.match("今天天气不错") == []


def test_more_and_longer_keywords_score_higher(catalogue):
    one = catalogue.match("没水")[0]
    two = catalogue.match("没水，水压小")[0]
    long = catalogue.match("水龙头没水")[0]
    assert two.score > one.score
    assert long.score > one.score


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("我家着火了，快来人", "火警"),
        ("我老婆突然晕倒了", "医疗急救"),
        ("楼下有人打架，正在打架", "正在发生的警情"),
        ("朋友借钱不还，我想让你们帮我要回来", "民事纠纷与合同纠纷"),
        ("我要举报我们单位领导受贿", "纪检监察举报"),
        ("法院已经判决了，对方就是不执行", "已进入司法程序的事项"),
    ],
)
def test_out_of_scope_requests_are_detected_with_advice(catalogue, text, entry):
    matches = catalogue.match_out_of_scope(text)
    assert matches and matches[0].name == entry
    assert matches[0].advice
    assert all(text[start:end] for start, end in matches[0].spans)


def test_in_scope_requests_are_not_out_of_scope(catalogue):
    assert catalogue.match_out_of_scope("我家门口天天有人乱停车") == []
    # the longer catalogue keyword 离婚登记 wins over the civil dispute 离婚
    assert catalogue.match_out_of_scope("我想问一下离婚登记要带什么") == []
    assert catalogue.match("我想问一下离婚登记要带什么")[0].department == "民政局"


def test_catalogue_built_in_code_matches_too():
    dept = Department("测试局", ("测试",), (Matter("测试事项", "其他", ("试一下",), "测试局"),))
    catalogue = Catalogue([dept])
    assert catalogue.categories == ("其他",)
    [match] = catalogue.match("我想试一下")
    assert isinstance(match, CatalogueMatch)
    assert (match.department, match.matter, match.category, match.keywords, match.spans) == (
        "测试局",
        "测试事项",
        "其他",
        ("试一下",),
        ((2, 5),),
    )
    assert match.score == pytest.approx(1 - math.exp(-0.75), abs=1e-4)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad-catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_DEPARTMENT = """
  - name: 甲局
    aliases: [甲]
    matters:
      - name: 甲事
        category: 其他
        keywords: [甲事情]
"""
# a zone's unit: {places} and {more} (further keys of the zone) filled in by each test
ZONE = """
  - name: 甲区管委会
    matters: []
    zones:
      - name: 甲区
        places: {places}
{more}"""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("categories: [其他]\ndepartments: [\n", "invalid YAML"),
        ("- just a list\n", "top level"),
        ("categories: [其他]\n", "missing key 'departments'"),
        (
            "categories: [其他]\ndepartments:"
            + GOOD_DEPARTMENT
            + "  - name: 乙局\n    aliases: [甲]\n    matters: []\n",
            "two departments",
        ),
        ("categories: [其他]\ndepartments:" + GOOD_DEPARTMENT + GOOD_DEPARTMENT, "duplicate department"),
        (
            "categories: [其他]\ndepartments:" + GOOD_DEPARTMENT.replace("category: 其他", "category: 未知"),
            "unknown category",
        ),
        ("categories: [其他]\ndepartments:" + GOOD_DEPARTMENT.replace("keywords", "keyword"), "missing key 'keywords'"),
        ("categories: [其他]\ndepartments:" + GOOD_DEPARTMENT.replace("[甲事情]", "[水]"), "shorter than 2"),
        (
            "categories: [其他]\ndepartments:"
            + GOOD_DEPARTMENT
            + "out_of_scope:\n  - name: 火警\n    keywords: [着火]\n",
            "missing key 'advice'",
        ),
        (
            "categories: [其他]\ndepartments:"
            + GOOD_DEPARTMENT
            + ZONE.format(places="[甲村]", more="        categories: [未知]\n"),
            "unknown category '未知'",
        ),
        ("categories: [其他]\ndepartments:" + GOOD_DEPARTMENT + ZONE.format(places="[村]", more=""), "shorter than 2"),
        ("categories: [其他]\ndepartments:" + GOOD_DEPARTMENT + ZONE.format(places="[]", more=""), "no places"),
        (
            "categories: [其他]\ndepartments:"
            + GOOD_DEPARTMENT
            + ZONE.format(places="[甲村, 乙村]", more="")
            + ZONE.replace("甲局", "乙局").replace("甲区", "乙区").format(places="[乙村]", more=""),
            "place '乙村' is also in zone '甲区'",
        ),
    ],
)
def test_bad_catalogue_files_raise_one_line_value_errors_naming_the_file(tmp_path, text, problem):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as raised:
        load_catalogue(path)
    message = str(raised.value)
    assert str(path) in message
    assert problem in message
    assert "\n" not in message


def test_a_small_valid_file_loads(tmp_path):
    path = _write(tmp_path, "categories: [其他]\ndepartments:" + GOOD_DEPARTMENT)
    catalogue = load_catalogue(path)
    assert catalogue.canonical("某某市甲局") == "甲局"
    assert catalogue.match("有个甲事情")[0].spans == ((2, 5),)


def test_a_unit_declares_the_zones_it_covers(tmp_path, catalogue):
    text = "categories: [其他]\ndepartments:" + GOOD_DEPARTMENT + ZONE.format(places="[甲村, 甲大道]", more="")
    small = load_catalogue(_write(tmp_path, text))
    (zone,) = small.zones
    assert (zone.name, zone.department, zone.places, zone.categories) == ("甲区", "甲区管委会", ("甲村", "甲大道"), ())
    assert small.category_keywords() == {"其他": ("甲事情",)}
    # the bundled catalogue: Haikou's zones, each under its unit, with categories of the file
    zones = {zone.name: zone for zone in catalogue.zones}
    assert zones["桂林洋经济开发区"].department == "经济开发区管理委员会"
    assert "桂林洋" in zones["桂林洋经济开发区"].places
    assert zones["坡博坡巷片区"].department == "房屋征收局" and zones["坡博坡巷片区"].categories == ("住房建设",)
    assert all(set(zone.categories) <= set(catalogue.categories) for zone in catalogue.zones)


# --- keywords heard by sound ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def by_characters(catalogue) -> Catalogue:
    return Catalogue(catalogue.departments, catalogue.out_of_scope, catalogue.categories, sound=None)


def test_a_keyword_written_as_sound_alikes_is_found_by_sound(catalogue, by_characters):
    text = "这家店卖东西没有名马标价"
    assert by_characters.match(text) == []
    [match] = catalogue.match(text)
    assert (match.department, match.matter, match.keywords) == ("市场监督管理局", "价格违法", ("明码标价",))
    [heard] = match.heard
    assert (heard.keyword, heard.heard, heard.similarity) == ("明码标价", "名马标价", 1.0)
    assert [text[start:end] for start, end in match.spans] == ["名马标价"] and heard.span == match.spans[0]
    # weaker than the keyword itself: SoundOptions.weight of a character match
    assert match.score < by_characters.match("这家店卖东西没有明码标价")[0].score


@pytest.mark.parametrize(
    "text",
    [
        "我想问一下办事的流程，需要带什么材料",  # no keyword and nothing that sounds like one
        "多次反映到午夜无果",  # 午夜 sounds exactly like 物业, but two syllables are not enough
        "前面道路的像水道臭气熏天",  # 像水道/下水道: one syllable keeps only its initial, not the same sound
        "我姓李，电话是这个号码",
    ],
)
def test_no_sound_match_without_a_keyword_sounding_the_same(catalogue, text):
    assert all(not match.heard for match in catalogue.match(text, k=20))


def test_a_character_match_is_not_displaced_by_a_sound_match():
    # 名马标价 sounds like 明码标价 (甲局), but 马标 is 乙局's keyword written as such: it keeps its characters
    a = Department("甲局", (), (Matter("甲事", "其他", ("明码标价",), "甲局"),))
    b = Department("乙局", (), (Matter("乙事", "其他", ("马标",), "乙局"),))
    catalogue = Catalogue([a, b])
    [match] = catalogue.match("没有名马标价")
    assert (match.department, match.keywords, match.heard, match.spans) == ("乙局", ("马标",), (), ((3, 5),))
    assert Catalogue([a]).match("没有名马标价")[0].heard


def test_a_character_match_outranks_an_as_long_keyword_heard_by_sound(catalogue):
    text = "门口有人乱停车，还有人占到经营"
    first, second = catalogue.match(text)
    assert (first.department, first.heard) == ("公安局交通警察支队", ())
    assert second.department == "城市管理行政执法局" and second.heard[0].heard == "占到经营"


def test_texts_whose_keywords_match_by_characters_rank_as_before(catalogue, by_characters, shared_data):
    with (shared_data / "haikou12345" / "tickets.csv").open(encoding="utf-8") as handle:
        texts = [row["诉求内容"][:300] for row, _ in zip(csv.DictReader(handle), range(1000), strict=False)]
    changed = [text for text in texts if catalogue.match(text)[:1] != by_characters.match(text)[:1]]
    with_sound = [text for text in texts if any(match.heard for match in catalogue.match(text))]
    # written tickets: a sound match is a typo of a keyword (材市场, 示政府), and rare
    assert len(with_sound) <= 0.02 * len(texts)
    assert len(changed) <= 0.005 * len(texts)
    for text, _, _ in MATCH_CASES:
        assert catalogue.match(text, k=20) == by_characters.match(text, k=20)


# ---- search by duty (the operator page's 其他单位 box) -----------------------------------------------------------


def test_search_by_duty_finds_who_handles_a_matter_with_the_duty_that_matched(catalogue):
    [first, *rest] = catalogue.search("电梯年检", k=3)
    assert (first.department, first.duty, first.words, first.matched_by) == (
        "市场监督管理局",
        "特种设备与产品质量",
        ("电梯年检",),
        "keyword",
    )
    assert all(found.score < first.score for found in rest)
    # a question around the matter, and a part of a keyword, still find it
    assert catalogue.search("电梯年检归谁管", k=1)[0].department == "市场监督管理局"
    partial = catalogue.search("年检", k=3)
    assert "市场监督管理局" in [found.department for found in partial]
    assert {found.matched_by for found in partial} == {"words"}


def test_search_by_duty_finds_a_keyword_heard_by_sound(catalogue):
    [first] = catalogue.search("名马标价", k=1)
    assert (first.department, first.duty, first.words, first.matched_by) == (
        "市场监督管理局",
        "价格违法",
        ("明码标价",),
        "sound",
    )


@pytest.mark.parametrize(
    ("query", "expected", "word"),
    [
        ("住建", "住房和城乡建设局", "住建"),
        ("海口市工商局", "市场监督管理局", "市场监督管理局"),
        ("交警", "公安局交通警察支队", "交警"),
    ],
)
def test_search_by_name_puts_the_named_unit_first(catalogue, query, expected, word):
    [first] = catalogue.search(query, k=1)
    assert (first.department, first.score, first.duty, first.words, first.matched_by) == (
        expected,
        1.0,
        None,
        (word,),
        "name",
    )


def test_search_by_a_part_of_a_name_ranks_the_names_it_covers_most(catalogue):
    found = catalogue.search("公积", k=3)
    assert found[0].department == "住房公积金管理中心"
    assert found[0].matched_by == "name" and 0.5 < found[0].score < 1.0


def test_search_ranks_by_score_one_unit_each_and_finds_nothing_in_nothing(catalogue):
    found = catalogue.search("噪音扰民", k=10)
    assert [item.score for item in found] == sorted((item.score for item in found), reverse=True)
    assert len({item.department for item in found}) == len(found)
    assert all(0.0 < item.score <= 1.0 for item in found)
    assert catalogue.search("", k=5) == [] and catalogue.search("   ", k=5) == []
    assert catalogue.search("？！", k=5) == []
