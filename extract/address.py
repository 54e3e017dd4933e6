"""Address of the problem (or of the caller), normalised to province/city/district/street + detail.

Where the address comes from, best first: the operator's read-back the caller confirms ("您说的位置是在
秀英区海口火车站公交车站，对吗？" "对"); the caller's answer to "具体在哪里？"; a place the caller names in
the request (Baidu LAC locations). jionlp parses it into administrative levels; names the caller leaves out
come from the deployment's city, and district names the ASR wrote as homophones (修英区 → 秀英区) are
corrected against that city's districts by pinyin.
"""

import functools
import re
from dataclasses import dataclass

from extract.document import CallDocument, TurnText
from extract.lexicon import place_suffix
from extract.nlp import jionlp, lac, word_frequency
from extract.phonetic import HALF_COST, is_hanzi, reading_distance, syllable_distance, text_readings
from extract.readback import ADDRESS, read_backs
from models import Evidence, TicketField

# 地址 is often heard as 地质/地止 on the phone
_ASKS_ADDRESS = re.compile(r"地址|地质|地止|位置|地点|在哪|哪里|什么地方|哪个小区|哪条路|具体.*在")
_LEADING = re.compile(
    r"^(?:嗯|啊|就|我|我家|是|也|都|现在|住|住在|家在|在|位于|地址是|位置是|地点是|就是|那个|，|,|\s)+"
)
_TRAILING = re.compile(r"(?:那里|那儿|这里|这儿|这边|那边|附近吧|吧|呢|啊|。|，|！|？)+$")
_PLACE_SUFFIX = re.compile(
    r"(省|市|区|县|镇|乡|村|街道|社区|路|街|道|巷|弄|大道|小区|花园|苑|府|城|广场|大厦|市场|公园|医院|学校|"
    r"中学|小学|站|工地|号|栋|幢|单元|室|楼|层|门口|旁边|对面|附近|宿舍|公寓|酒店|超市|农场|场)"
)
_ADDRESS_TAGS = {"LOC", "ORG", "m", "q", "f", "nz", "ns", "nt"}


@dataclass(frozen=True)
class AddressFields:
    address: TicketField
    province: TicketField
    city: TicketField
    district: TicketField
    street: TicketField
    address_detail: TicketField


@dataclass(frozen=True)
class DeploymentPlace:
    """The hotline's own province and city: addresses that name neither are in this city."""

    province: str = "海南省"
    city: str = "海口市"


def extract_address(document: CallDocument, place: DeploymentPlace | None = None) -> AddressFields:
    place = place or DeploymentPlace()
    candidate = _from_readback(document) or _from_answer(document) or _from_request(document)
    if candidate is None:
        return AddressFields(*(TicketField() for _ in range(6)))
    text, confidence, evidence = candidate
    corrected = _generic_suffix(_starting_at_the_district(correct_districts(text, place), place))
    parsed = parse_address(corrected, place)
    raw = text if corrected != text else None
    address = TicketField(corrected, confidence, evidence, raw=raw, source="spoken")

    def part(name: str, inferred_confidence: float) -> TicketField:
        value = parsed.get(name)
        if not value:
            return TicketField()
        said = value in corrected or value.rstrip("省市区县") in corrected
        return TicketField(
            value,
            confidence if said else inferred_confidence,
            evidence if said else [],
            source="spoken" if said else "inferred",
        )

    district = part("county", 0.5)
    if district.value is None:
        district = _district_mentioned(document, place)
    return AddressFields(
        address=address,
        province=part("province", 0.6),
        city=part("city", 0.6),
        district=district,
        street=part("town", 0.5),
        address_detail=TicketField(parsed.get("detail") or None, confidence, evidence, source="spoken")
        if parsed.get("detail")
        else TicketField(),
    )


# What a place's name ends with, said after the name: heard wrong at the end of an address (银达大上, 金岭小七),
# it is the generic word it sounds like.
_GENERIC_SUFFIXES = ("小区", "大厦", "花园", "市场", "医院", "学校", "中心", "公园", "广场", "社区", "工地", "宿舍")


def _generic_suffix(address: str) -> str:
    """The address with its last two characters as the generic place word they sound like, where each of the
    two keeps at least its initial or its final and one sounds the same (大上 → 大厦, 小七 → 小区)."""
    tail = address[-2:]
    if len(address) < 4 or place_suffix(address) or not all(is_hanzi(char) for char in tail):
        return address  # 海垦花苑 ends in a suffix of its own: 苑 is no misheard 园
    if word_frequency(tail):
        return address  # 物业公司, 村口, 楼下: a word of its own, not a misheard 工地 or 小区
    heard = text_readings(tail)
    for suffix in _GENERIC_SUFFIXES:
        distances = [reading_distance(a, b) for a, b in zip(heard, text_readings(suffix), strict=True)]
        if max(distances) <= HALF_COST and min(distances) == 0.0:
            return address[:-2] + suffix
    return address


def _starting_at_the_district(text: str, place: DeploymentPlace) -> str:
    """An address that names a district starts there: a character or two before it are the preposition heard
    wrong (在 as 带/再), not part of the place."""
    positions = [text.find(district) for district in _districts(place.province, place.city)]
    first = min((position for position in positions if position >= 0), default=-1)
    return text[first:] if 0 < first <= 2 and not text[:first].endswith(("市", "省")) else text


def _district_mentioned(document: CallDocument, place: DeploymentPlace) -> TicketField:
    """A district of the city named anywhere in the call (the address itself may have come out garbled)."""
    for turn in document.turns:
        corrected = correct_districts(turn.text, place)  # same length: offsets stay valid
        for district in _districts(place.province, place.city):
            position = corrected.find(district)
            if position != -1:
                return TicketField(district, 0.6, [turn.evidence(position, position + len(district))], source="spoken")
    return TicketField()


def parse_address(text: str, place: DeploymentPlace) -> dict:
    """jionlp's parse, with the deployment's city assumed when the text names no city of its own."""
    jio = jionlp()
    parsed = jio.parse_location(text, town_village=True)
    if not parsed.get("city") or not _names(text, parsed["city"]):
        parsed = jio.parse_location(place.city + text, town_village=True)
    detail = parsed.get("detail") or ""
    town = parsed.get("town")
    if town and detail.startswith(town):
        detail = detail[len(town) :]
    parsed["detail"] = detail
    return parsed


def correct_districts(text: str, place: DeploymentPlace) -> str:
    """Replace words that sound like one of the deployment city's districts: 修英区/秀阴局 → 秀英区,
    龙华契 → 龙华区, 穷山区 → 琼山区. Whisper writes unknown place names as homophones; the city has
    few districts, so a close match in sound (fuzzy pinyin, as southern speakers blur z/zh, n/l, in/ing)
    is safe to take."""
    districts = _districts(place.province, place.city)
    for district, sound in districts.items():
        if district in text:
            continue
        size = len(district)
        for start in range(len(text) - size, -1, -1):
            heard = text[start : start + size]
            if not all("\u4e00" <= char <= "\u9fff" for char in heard) or heard in districts:
                continue
            if text[start + size : start + size + 1] in _ROAD_WORDS:
                continue  # 龙华西路 is a road named after the district, not the district
            if _NAMED_AFTER_DISTRICT.match(text, start + size - 1):
                continue  # 秀阴小学 is 秀英小学, not 秀英区学
            in_address = bool(_PLACE_FOLLOWS.match(text, start + size))
            if _sounds_like(_sound(heard), sound, loosely=in_address) or (
                in_address and _only_district_one_syllable_off(heard, district, districts)
            ):
                text = text[:start] + district + text[start + size :]
    return _correct_named_after_districts(text, districts)


def _only_district_one_syllable_off(heard: str, district: str, districts: dict[str, tuple[str, ...]]) -> bool:
    """松山区 before a street is 琼山区: the suffix itself heard (区), the name's other syllables heard exactly,
    and no other district of the city as near. A district name the city does not have, said where an address
    is being given, is one of its own misheard: a city has only a handful."""

    def one_off(name: str) -> bool:
        if len(name) != len(heard) or len(name) < 3 or name[-1] != heard[-1]:
            return False
        heard_sound, name_sound = _sound(heard[:-1]), districts[name][:-1]
        return sum(a != b for a, b in zip(heard_sound, name_sound, strict=True)) == 1

    return one_off(district) and sum(map(one_off, districts)) == 1


# Places named after a district (琼山医院, 秀英小学, 美兰机场): the district's name without 区 before these
_NAMED_AFTER_DISTRICT = re.compile(r"医院|中学|小学|中心|市场|公园|广场|大道|镇|机场|港")


def _correct_named_after_districts(text: str, districts: dict[str, tuple[str, ...]]) -> str:
    """熊山医院 → 琼山医院: a district's short name heard as a sound-alike before a place word."""
    for district, sound in districts.items():
        short, short_sound = district[:-1], sound[:-1]
        if len(short) < 2:
            continue
        for start in range(len(text) - len(short), -1, -1):
            heard = text[start : start + len(short)]
            if heard == short or not all(is_hanzi(char) for char in heard):
                continue
            if _NAMED_AFTER_DISTRICT.match(text, start + len(short)) and all(
                _close(a, b) for a, b in zip(_sound(heard), short_sound, strict=True)
            ):
                text = text[:start] + short + text[start + len(short) :]
    return text


_ROAD_WORDS = set("路街道巷弄桥")
# what follows a district when an address is being said: a road, a town, a street office, a village …
_PLACE_FOLLOWS = re.compile(r"[\u4e00-\u9fff]{1,6}?(?:路|街|大道|镇|村|街道|社区|小区)")
_FUZZY_INITIALS = ({"z", "zh"}, {"c", "ch"}, {"s", "sh"}, {"l", "n"}, {"f", "h"}, {"j", "q", "x"})
_INITIALS = (
    "zh",
    "ch",
    "sh",
    "b",
    "p",
    "m",
    "f",
    "d",
    "t",
    "n",
    "l",
    "g",
    "k",
    "h",
    "j",
    "q",
    "x",
    "r",
    "z",
    "c",
    "s",
    "y",
    "w",
)


def _sounds_like(heard: tuple[str, ...], name: tuple[str, ...], loosely: bool = False) -> bool:
    """Every syllable of the name part close; the suffix heard with a close initial (区 as 局/七/西).

    `loosely`, where a road or a town follows (an address is being said), one syllable of the name may keep
    only its initial or its final (求山气龙昆南路 → 琼山区龙昆南路): the city has only a handful of districts."""
    if len(heard) != len(name):
        return False
    *heard_name, heard_suffix = heard
    *real_name, real_suffix = name
    distant = sum(not _close(a, b) for a, b in zip(heard_name, real_name, strict=True))
    if distant > (1 if loosely and len(real_name) >= 2 else 0):
        return False
    if distant and not all(syllable_distance(a, b) <= HALF_COST for a, b in zip(heard_name, real_name, strict=True)):
        return False
    return _same_initial(_split(heard_suffix)[0], _split(real_suffix)[0])


def _close(a: str, b: str) -> bool:
    initial_a, final_a = _split(a)
    initial_b, final_b = _split(b)
    return _same_initial(initial_a, initial_b) and final_a.removesuffix("g") == final_b.removesuffix("g")


def _same_initial(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _FUZZY_INITIALS)


def _split(syllable: str) -> tuple[str, str]:
    for initial in _INITIALS:
        if syllable.startswith(initial):
            return initial, syllable[len(initial) :]
    return "", syllable


def _names(text: str, admin_name: str) -> bool:
    short = admin_name.rstrip("省市区县")
    return admin_name in text or (len(short) >= 2 and short in text)


@functools.lru_cache(maxsize=8)
def _districts(province: str, city: str) -> dict[str, tuple[str, ...]]:
    tree = jionlp().china_location_loader()
    counties = tree.get(province, {}).get(city, {})
    return {name: _sound(name) for name in counties if not name.startswith("_")}


def _sound(text: str) -> tuple[str, ...]:
    return tuple(syllable.rstrip("012345") for syllable in jionlp().pinyin(text, formater="simple"))


def _clean(text: str) -> str:
    text = _LEADING.sub("", text.strip())
    return _TRAILING.sub("", text).strip()


def _from_readback(document: CallDocument) -> tuple[str, float, list[Evidence]] | None:
    for readback in read_backs(document, ADDRESS):
        address = _clean(readback.content)
        if len(address) < 3 or not _PLACE_SUFFIX.search(address):
            continue
        turn = readback.turn
        start = turn.text.index(address, readback.span[0])
        evidence = [turn.evidence(start, start + len(address))]
        evidence.extend(_mentions(document, address, turn.index))
        return address, 0.9 if readback.confirmed else 0.7, evidence
    return None


def _from_answer(document: CallDocument) -> tuple[str, float, list[Evidence]] | None:
    for turn in document.caller_turns:
        previous = document.previous_turn(turn, "agent")
        if previous is None or previous.index < turn.index - 2 or not _ASKS_ADDRESS.search(previous.text):
            continue
        sentence = re.split(r"[。！？]", turn.text)[0]
        address = _clean(sentence)
        if len(address) < 3 or not _PLACE_SUFFIX.search(address):
            continue
        start = turn.text.index(address)
        return address, 0.8, [turn.evidence(start, start + len(address))]
    return None


def _from_request(document: CallDocument) -> tuple[str, float, list[Evidence]] | None:
    best: tuple[str, TurnText, int] | None = None
    for turn in document.caller_turns:
        for phrase, start in _place_phrases(turn.text):
            if best is None or len(phrase) > len(best[0]):
                best = (phrase, turn, start)
        if best is not None:
            break
    if best is None:
        return None
    phrase, turn, start = best
    return phrase, 0.5, [turn.evidence(start, start + len(phrase))]


def _place_phrases(text: str) -> list[tuple[str, int]]:
    """Runs of LAC place/organisation words (with numbers, measure words and 方位词 in between)."""
    phrases, current, current_start, position = [], "", 0, 0
    has_place = False
    for word, tag in lac().run(text):
        if tag in _ADDRESS_TAGS or (word == "的" and current):
            if not current:
                current_start = position
            current += word
            has_place = has_place or tag in {"LOC", "ORG", "ns"}
        else:
            if has_place and len(current) >= 3 and _PLACE_SUFFIX.search(current):
                phrases.append((current.rstrip("的"), current_start))
            current, has_place = "", False
        position += len(word)
    if has_place and len(current) >= 3 and _PLACE_SUFFIX.search(current):
        phrases.append((current.rstrip("的"), current_start))
    return phrases


def _mentions(document: CallDocument, address: str, skip: int) -> list[Evidence]:
    """Where the caller said (most of) the same address."""
    found = []
    for turn in document.caller_turns:
        if turn.index == skip:
            continue
        for length in range(len(address), max(4, len(address) // 2) - 1, -1):
            position = turn.text.find(address[:length])
            if position != -1:
                found.append(turn.evidence(position, position + length))
                break
    return found
