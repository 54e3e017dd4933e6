"""The hotline lexicon: file format, validation, and the builder on a ticket history the test writes."""

import csv
from pathlib import Path

import pytest

from extract.catalogue import load_catalogue
from extract.lexicon import (
    FORMAT_LINE,
    Lexicon,
    LexiconEntry,
    build_lexicon,
    kind_of_place,
    load_lexicon,
    read_ticket_texts,
    write_lexicon,
)


def _write_tickets(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["工单编号", "诉求内容"])
        writer.writerows(rows)
    return path


def test_builder_mines_the_places_a_history_names(tmp_path):
    tickets = _write_tickets(
        tmp_path / "tickets.csv",
        [
            ("1", "市民来电反映：琼山区凤翔东路金科嘉园小区门口垃圾无人清理。"),
            ("2", "市民来电反映：龙华区金垦路金岭小区停水两天。"),
            ("3", "市民来电反映：凤翔东路路灯不亮，金科嘉园小区业主夜间出行不便。"),
            ("4", "市民来电反映：金垦路有车辆违停，金岭小区门口堵塞。"),
            ("5", "市民来电反映：南宝路施工噪音扰民。"),
            ("6", "市民来电反映：秘密花园路只出现在这张被排除的工单里。"),
        ],
    )
    texts = read_ticket_texts(tickets, "诉求内容", "工单编号", exclude_ids=["6"])
    assert len(texts) == 5
    lexicon = build_lexicon("海南省", "海口市", load_catalogue(), texts, min_count=2, version="t1")

    assert lexicon.get("凤翔东路").kind == "road"
    assert lexicon.get("金垦路").kind == "road"
    assert lexicon.get("金科嘉园小区") or lexicon.get("金科嘉园")
    assert lexicon.get("南宝路") is None  # one ticket only: below min_count
    assert lexicon.get("龙昆南路").kind == "road"  # the city's listed main roads are always in
    assert not any("秘密花园" in entry.term for entry in lexicon.entries)  # excluded ticket
    # the packaged divisions and the catalogue are always in
    assert lexicon.get("秀英区").kind == "district"
    assert lexicon.get("灵山镇").kind == "street"
    assert lexicon.get("明码标价").kind == "matter"
    assert lexicon.get("政务服务便民热线").kind == "script"
    assert all(0 < entry.weight <= 1 for entry in lexicon.entries)


def test_file_round_trip_and_the_bundled_default(tmp_path):
    lexicon = Lexicon(
        (
            LexiconEntry(term="城西路", kind="road", weight=0.8),
            LexiconEntry(term="秀英区", kind="district", weight=1.0),
        ),
        version="v7",
        province="海南省",
        city="海口市",
    )
    path = tmp_path / "lexicon.tsv"
    write_lexicon(lexicon, path)
    assert path.read_text(encoding="utf-8").startswith(FORMAT_LINE + "\n# version: v7\n")
    again = load_lexicon(path)
    assert again.entries == (lexicon.get("秀英区"), lexicon.get("城西路"))  # grouped by kind
    assert (again.version, again.province, again.city) == ("v7", "海南省", "海口市")

    default = load_lexicon()
    assert default.city == "海口市"
    assert {"秀英区", "龙华区", "琼山区", "美兰区"} <= {entry.term for entry in default.of_kind("district")}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("term\tkind\tweight\n城西路\troad\n", "line 5: expected 3 tab-separated cells"),
        ("term\tkind\tweight\n城西路\tstreetlamp\t1\n", "line 5: Input should be"),
        ("term\tkind\tweight\n城西路\troad\t1.5\n", "line 5: Input should be less than or equal to 1"),
        ("term\tkind\tweight\n城 西路\troad\t1\n", "line 5: Value error, a term is Chinese"),
        ("term\tkind\tweight\n城西路\troad\t1\n城西路\troad\t1\n", "line 6: '城西路' is listed twice"),
        ("term\tweight\n", "line 4: expected the header"),
    ],
)
def test_a_bad_file_names_its_line(tmp_path, body, problem):
    path = tmp_path / "bad.tsv"
    path.write_text(f"{FORMAT_LINE}\n# version: x\n# city: 海南省 海口市\n{body}", encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load_lexicon(path)


def test_not_a_lexicon_file(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("term\tkind\tweight\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: a lexicon file starts with"):
        load_lexicon(path)


def test_kind_of_place_by_suffix():
    assert kind_of_place("龙昆南路") == "road"
    assert kind_of_place("金科嘉园") == "community"
    assert kind_of_place("道客村") == "village"
    assert kind_of_place("海口火车站") == "place"
    assert kind_of_place("路") is None
    assert kind_of_place("投诉") is None
