"""Key areas (extract.routing.zones): the catalogue's zones found in a ticket, places mined from the training tickets
only, the routing model's zone rule and feature, the zone table in the model file, and the reason extraction shows."""

import json
from dataclasses import replace

import pytest
from extract_builders import CALL_START, transcript_of

from extract.catalogue import load_catalogue
from extract.routing import MANIFEST_FILE, RoutingModel, RoutingOptions
from extract.routing.zones import PlaceTerms, ZonePlace, ZoneSpec, ZoneTable, zone_reason
from extract.ticket import extract_ticket, load_resources
from models import CallMeta, ModelLoadError

ZONE_UNIT = "经济开发区管理委员会"


@pytest.fixture(scope="module")
def catalogue_zones() -> ZoneTable:
    return ZoneTable.from_catalogue(load_catalogue())


def test_the_bundled_catalogue_declares_haikous_zones(catalogue_zones):
    units = set(catalogue_zones.units)
    assert {ZONE_UNIT, "高新技术产业开发区管理委员会", "房屋征收局"} <= units
    catalogue = load_catalogue()
    for zone in catalogue_zones.zones:
        # every zone's unit is a catalogue unit under its canonical name, and its categories are the catalogue's
        assert catalogue.canonical(zone.unit) == zone.unit
        assert set(zone.categories) <= set(catalogue.categories)
        assert zone.places and all(place.source == "catalogue" for place in zone.places)


def test_an_address_inside_a_zone_finds_the_zone_and_the_place_where_it_is_named(catalogue_zones):
    text = "市民来电反映：美兰区桂林洋大道78号小区有人随意安装燃气管道"
    (hit,) = catalogue_zones.find(text)
    assert (hit.zone, hit.unit, hit.place) == ("桂林洋经济开发区", ZONE_UNIT, "桂林洋")
    assert text[hit.span[0] : hit.span[1]] == "桂林洋"
    assert zone_reason(hit) == "地址在桂林洋经济开发区范围内（桂林洋）"
    assert catalogue_zones.find("市民来电反映：龙华区金贸路有人随意安装燃气管道") == []
    assert catalogue_zones.find("") == []


def test_a_matter_the_zone_unit_does_not_handle_there_is_not_the_zones(catalogue_zones):
    # parking (交通出行) stays with the traffic police inside the zone; a matter no keyword names is the zone's
    assert catalogue_zones.find("桂林洋大道有车辆违停堵路") == []
    assert [hit.unit for hit in catalogue_zones.find("桂林洋大道旁边的事情一直没人管")] == [ZONE_UNIT]
    # the redevelopment area's headquarters: demolition there, but not a street vendor
    assert [hit.unit for hit in catalogue_zones.find("龙华区坡博村拆迁施工队把路堵了")] == ["房屋征收局"]
    assert catalogue_zones.find("龙华区坡博南路有人占道经营卖水果") == []


def places_of(text: str) -> set[str]:
    return PlaceTerms(["高山村", "林海一路", "金贸路", "海甸岛"])(text)


def test_places_mined_from_the_history_need_the_zone_unit_to_have_most_of_their_tickets(catalogue_zones):
    texts = [
        "桂林洋开发区高山村的路没修好",
        "高山村有人养鸡",
        "林海一路有人非法采沙",
        "林海一路路灯坏了",
        "林海一路有车违停",
        "林海一路有人占道",
        "金贸路噪音",
        "金贸路噪音太大",
    ]
    units = [ZONE_UNIT, ZONE_UNIT, ZONE_UNIT, ZONE_UNIT, "交警", "城管", ZONE_UNIT, "城管"]
    mined = catalogue_zones.with_history(texts, units, places_of, min_count=2, min_share=0.5)
    zone = next(zone for zone in mined.zones if zone.unit == ZONE_UNIT)
    added = {place.name: place for place in zone.places if place.source == "history"}
    # 高山村: 2 of 2; 林海一路: 2 of 4 (half); 金贸路: 1 of the unit's (under min_count)
    assert set(added) == {"高山村", "林海一路"}
    assert (added["林海一路"].tickets, added["林海一路"].unit_tickets) == (4, 2)
    assert [hit.place for hit in mined.find("林海一路旁边的别墅区有人采沙")] == ["林海一路"]
    # a higher bar keeps only what the unit nearly always got; the catalogue's own table is unchanged
    stricter = catalogue_zones.with_history(texts, units, places_of, min_count=2, min_share=0.6)
    assert {place.name for zone in stricter.zones for place in zone.places if place.source == "history"} == {"高山村"}
    assert catalogue_zones.find("林海一路旁边的别墅区有人采沙") == []


def test_a_place_named_only_in_tickets_not_given_is_never_mined(catalogue_zones):
    train = ["高山村有人养鸡", "海甸岛路灯坏了"]
    mined = catalogue_zones.with_history(train, [ZONE_UNIT, "城管"], places_of, min_count=1, min_share=0.5)
    history = {place.name for zone in mined.zones for place in zone.places if place.source == "history"}
    assert history == {"高山村"}
    # the test tickets' places count for nothing: 林海一路 was never in a training ticket
    assert mined.find("林海一路有人采沙") == []


def test_the_table_round_trips_through_plain_json(catalogue_zones):
    mined = catalogue_zones.with_history(["高山村养鸡", "高山村修路"], [ZONE_UNIT, ZONE_UNIT], places_of)
    restored = ZoneTable.from_dict(json.loads(json.dumps(mined.to_dict(), ensure_ascii=False)))
    assert restored == mined
    assert restored.find("高山村的路") == mined.find("高山村的路")
    with pytest.raises(KeyError):
        ZoneTable.from_dict({"zones": [{"name": "甲"}], "category_keywords": {}})


# ---- the routing model ------------------------------------------------------------------------------------------

UNITS = {
    "城市管理行政执法局": ["{}有人占道经营摆摊", "{}有商贩乱摆卖", "{}工地夜间施工噪音"],
    "公安局交通警察支队": ["{}有车辆违停堵路", "{}路口红绿灯坏了", "{}有人乱停车"],
    ZONE_UNIT: ["{}开发区的事情没人管", "{}有人在村里修路很久没修好"],
}
CITY_PLACES = ["龙华区金贸路", "美兰区海甸岛", "琼山区府城", "秀英区长流镇", "龙华区国贸"]
ZONE_PLACES = ["美兰区桂林洋大道", "桂林洋高山村", "桂林洋开发区"]
TABLE = ZoneTable(
    (
        ZoneSpec(
            "桂林洋经济开发区", ZONE_UNIT, ("城市管理",), (ZonePlace("桂林洋"), ZonePlace("高山村", "history", 3, 3))
        ),
    ),
    {"城市管理": ("占道经营", "乱摆卖", "施工噪音"), "交通出行": ("违停", "红绿灯", "乱停车")},
)


def zone_history() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for unit, templates in UNITS.items():
        places = ZONE_PLACES if unit == ZONE_UNIT else CITY_PLACES
        for template in templates:
            for place in places:
                texts.append(f"市民来电反映: {template.format(place)}")
                labels.append(unit)
    # inside the zone, the vendors went to the zone's committee, the parking to the police, as the duty split says
    texts += ["市民来电反映: 美兰区桂林洋大道有人占道经营摆摊", "市民来电反映: 桂林洋高山村有车辆违停堵路"]
    labels += [ZONE_UNIT, "公安局交通警察支队"]
    return texts, labels


CHAR_ONLY = RoutingOptions(use_embeddings=False)
INSIDE = "市民来电反映: 桂林洋那边有商贩乱摆卖"


@pytest.mark.parametrize("mode", ["rule", "feature"])
def test_a_zone_model_moves_a_ticket_inside_the_zone_towards_its_unit(mode):
    texts, labels = zone_history()
    plain = RoutingModel.train(texts, labels, CHAR_ONLY)
    # half the probabilities: the rule outweighs what the words alone say (乱摆卖 is the city's enforcers' elsewhere)
    zoned = RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones=mode, zone_weight=0.5), zones=TABLE)
    column = zoned.labels.index(ZONE_UNIT)
    before, after = plain.predict_proba([INSIDE])[0, column], zoned.predict_proba([INSIDE])[0, column]
    assert after > before
    assert zoned.predict([INSIDE], k=1)[0][0][0] == ZONE_UNIT
    # outside any zone, and a matter the zone's unit does not handle inside it: the zone changes nothing
    for text in ("市民来电反映: 龙华区金贸路有商贩乱摆卖", "市民来电反映: 桂林洋大道有车辆违停堵路"):
        assert zoned.predict([text], k=1)[0][0][0] == plain.predict([text], k=1)[0][0][0]
    hits = zoned.zone_hits([INSIDE, "龙华区金贸路"])
    assert [[(hit.zone, hit.unit, hit.place) for hit in found] for found in hits] == [
        [("桂林洋经济开发区", ZONE_UNIT, "桂林洋")],
        [],
    ]


def test_the_rule_takes_its_weight_of_the_probabilities():
    texts, labels = zone_history()
    plain = RoutingModel.train(texts, labels, CHAR_ONLY)
    zoned = RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones="rule", zone_weight=0.4), zones=TABLE)
    column = zoned.labels.index(ZONE_UNIT)
    before, after = plain.predict_proba([INSIDE])[0], zoned.predict_proba([INSIDE])[0]
    assert after[column] == pytest.approx(0.6 * before[column] + 0.4, abs=1e-5)
    assert after.sum() == pytest.approx(1.0)


def test_the_address_is_looked_in_for_zones_before_the_text():
    texts, labels = zone_history()
    zoned = RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones="rule"), zones=TABLE)
    text = "市民来电反映: 有商贩乱摆卖"
    assert zoned.zone_hits([text]) == [[]]
    (hit,) = zoned.zone_hits([text], addresses=["海南省海口市美兰区桂林洋高山村"])[0]
    assert (hit.place, hit.unit) == ("桂林洋", ZONE_UNIT)
    column = zoned.labels.index(ZONE_UNIT)
    assert zoned.predict_proba([text], ["美兰区桂林洋"])[0, column] > zoned.predict_proba([text])[0, column]


def test_zones_off_by_default_and_a_zone_mode_needs_a_table():
    texts, labels = zone_history()
    assert RoutingOptions().zones == "off"
    assert RoutingModel.train(texts, labels, CHAR_ONLY, zones=TABLE).zones is None
    with pytest.raises(ValueError, match="needs a zone table"):
        RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones="rule"))
    with pytest.raises(ValueError, match="unknown zones"):
        RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones="always"), zones=TABLE)


def test_training_mines_the_zone_places_from_its_own_tickets_only():
    texts, labels = zone_history()
    table = ZoneTable((ZoneSpec("桂林洋经济开发区", ZONE_UNIT, (), (ZonePlace("桂林洋"),)),), {})
    finder = PlaceTerms(["高山村", "金贸路", "海甸岛"])
    zoned = RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones="rule"), zones=table, zone_places=finder)
    (zone,) = zoned.zones.zones
    assert [(p.name, p.source) for p in zone.places] == [("桂林洋", "catalogue"), ("高山村", "history")]
    # without the zone's tickets in training, nothing is mined
    others = [i for i, label in enumerate(labels) if label != ZONE_UNIT or "高山村" not in texts[i]]
    fewer = RoutingModel.train(
        [texts[i] for i in others],
        [labels[i] for i in others],
        replace(CHAR_ONLY, zones="rule"),
        zones=table,
        zone_places=finder,
    )
    assert [p.name for p in fewer.zones.zones[0].places] == ["桂林洋"]


@pytest.mark.parametrize("mode", ["rule", "feature"])
def test_the_zone_table_travels_in_the_manifest(tmp_path, mode):
    texts, labels = zone_history()
    zoned = RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones=mode), zones=TABLE)
    zoned.save(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["zones"]["zones"][0]["places"][1] == {
        "name": "高山村",
        "source": "history",
        "tickets": 3,
        "unit_tickets": 3,
    }
    loaded = RoutingModel.load(tmp_path)
    assert loaded.zones == zoned.zones
    assert loaded.predict_proba([INSIDE]) == pytest.approx(zoned.predict_proba([INSIDE]))


def test_a_damaged_zone_table_is_a_clear_error(tmp_path):
    texts, labels = zone_history()
    RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones="rule"), zones=TABLE).save(tmp_path)
    path = tmp_path / MANIFEST_FILE
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["zones"] = {"zones": [{"name": "桂林洋经济开发区"}]}
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="corrupt"):
        RoutingModel.load(tmp_path)


# ---- extraction --------------------------------------------------------------------------------------------------

ZONE_CALL = (
    ("agent", "您好，政务服务便民热线，请问有什么可以帮您？"),
    ("caller", "我要反映一下桂林洋开发区高山村里修路修了很久都没修好，出门很不方便。"),
    ("agent", "好的，请问您贵姓？"),
    ("caller", "我姓王。"),
)


def test_extraction_shows_the_zone_as_the_reason_for_the_zones_unit():
    texts, labels = zone_history()
    resources = load_resources(use_knowledge_base=False)
    meta = CallMeta(call_id="t-1", started_at=CALL_START)
    # the catalogue's zones alone: the unit is shown with the reason, even without a model
    suggestions = extract_ticket(transcript_of(*ZONE_CALL), meta, resources).department_suggestions
    reasons = {item.department: item.reasons for item in suggestions}
    # the longest place named: 桂林洋开发区 rather than 桂林洋
    assert "地址在桂林洋经济开发区范围内（桂林洋开发区）" in reasons[ZONE_UNIT]
    # a model trained with zones ranks the zone's unit first, with the same reason
    zoned = RoutingModel.train(texts, labels, replace(CHAR_ONLY, zones="rule", zone_weight=0.5), zones=TABLE)
    ticket = extract_ticket(transcript_of(*ZONE_CALL), meta, replace(resources, routing_model=zoned))
    first = ticket.department_suggestions[0]
    assert first.department == ZONE_UNIT
    assert any(reason.startswith("地址在桂林洋经济开发区范围内") for reason in first.reasons)
