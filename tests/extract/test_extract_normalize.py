from extract.normalize import normalize


def test_spoken_phone_numbers_become_digits_and_separators_go():
    assert normalize("幺三幺，幺七七二，二六四幺。").text == "13117722641。"
    assert normalize("零八九八，六六六六，八八八八").text == "089866668888"
    assert normalize("我的电话是131 1772 2641").text == "我的电话是13117722641"


def test_numbers_with_units_and_measures_are_written_as_digits():
    assert normalize("我住在三号楼二单元").text == "我住在3号楼2单元"
    assert normalize("一月十三号十二点左右").text == "1月13号12点左右"
    assert normalize("二零一八年三月五日").text == "2018年3月5日"
    assert normalize("一千五百块").text == "1500块"
    assert normalize("海交路一百八十二号").text == "海交路182号"


def test_words_that_only_look_like_numbers_stay():
    for phrase in ("我想问一下", "我一直等", "一些人", "三亚", "五指山", "星期一", "两个小时"):
        assert normalize(phrase).text == phrase


def test_traditional_and_full_width_are_normalised():
    assert normalize("臺灣電話１２３").text == "台湾电话123"


def test_every_written_character_maps_back_to_what_was_said():
    said = "电话幺三幺，幺七七二，二六四幺。"
    norm = normalize(said)
    start = norm.text.index("131")
    raw_start, raw_end = norm.raw_span(start, start + 11)
    assert said[raw_start:raw_end] == "幺三幺，幺七七二，二六四幺"
    unit = normalize("住在三十二号楼")
    position = unit.text.index("32")
    assert unit.raw[slice(*unit.raw_span(position, position + 2))] == "三十二"


def test_empty_and_odd_text_is_fine():
    assert normalize("").text == ""
    assert normalize("十十十万万").text  # cn2an cannot read it: kept, no crash
    assert normalize("a" * 10_000).text == "a" * 10_000


def test_house_number_hyphens_and_road_ordinals_are_written_as_the_city_writes_them():
    assert normalize("金贸西路二十八杠一号").text == "金贸西路28-1号"
    assert normalize("振发一路海马二横路").text == "振发一路海马二横路"
    assert normalize("杠杆").text == "杠杆"
