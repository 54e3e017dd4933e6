"""Stripping the operator's additions from a ticket text: what a caller could have said.

Ticket texts are the operator's written summary, and most end with the routing instruction written
after dispatch ("请市住建核实处理！（请职能局按规定在30分钟内联系市民，响应处置）"). That names the
answer and no caller ever says it, so `strip_routing_instruction` removes it (and the channel prefix
"市民来电反映:", department replies and callback headers of follow-up tickets) before training and
before prediction: the model only ever sees what a caller could have said.
"""

import re

__all__ = ["split_channel_prefix", "strip_routing_instruction"]

# "市民来电反映:", "市民微信咨询：", "交警来电反馈:", "市民市民云反映：", "游客来电反映:": who wrote in, over
# which channel, and what kind of request. Not the caller's words; a unit's name here is the answer.
_KINDS = "反映|咨询|反馈|建议|投诉|补充|撤销|表扬|求助|报备|要求|举报|求证|来电"
_CHANNEL_PREFIX = re.compile(rf"^\s*(?P<who>[^:：，。！？!?（()）\s]{{0,20}}?)(?P<kind>{_KINDS})\s*[:：]\s*")
_REQUEST_KIND = re.compile(r"(反映|咨询|反馈|建议|投诉|补充|撤销|表扬|求助|报备|要求|举报|求证)$")
# A department's answer pasted into a follow-up ticket: "2018-01-11 19:41海口工商局答复：…",
# "市国土资源局答复：…", "琼山区旧州镇政府：…", "海南民生燃气股份有限公司2017-12-26 15:…".
_DATE = re.compile(r"\d{4}\s*[-年/.]\s*\d{1,2}\s*[-月/.]\s*\d{1,2}|\d{1,2}-\d{1,2}\s+\d{1,2}[:：]")
_REPLY_SPEAKER = re.compile(
    r"(答复|回复|回访|处理结果|处理情况|拟办意见|办理意见)\s*$|(局|政府|中心|公司|支队|大队|派出所|办|院|委|办公室|集团)\s*$"
)
_TICKET_NO = re.compile(r"[（(]?\s*(政府)?工单(编)?号\s*[:：]?\s*\d{8,}\s*[)）]?")
_TITLE = re.compile(r"《(?:关于)?(?P<title>[^《》]{2,80})》")
_CONTENT_LABEL = re.compile(r"^\s*(原)?工单内容\s*[:：]\s*")
# Boilerplate parentheticals: "（请职能局按规定在30分钟内联系市民，响应处置）", "（30分钟办件）".
_DUTY_NOTE = re.compile(r"[（(][^（()）]{0,60}?(职能局|分钟|响应|办件)[^（()）]{0,60}[)）]?")
_VERBS = (
    "打击|核实|处理|办理|回复|答复|核查|查处|解决|跟进|协调|落实|联系|调查|处置|督促|查看|审核|反馈|跟踪|监管|整改|执法"
)
# "请市住建核实处理！", "请交警核实处理，谢谢", "请龙华区核实处理。": a 请 clause (no comma inside) that
# ends the segment. "请问" is the caller asking something and stays; so does "请了工人来修，…协调".
_TRAILING_INSTRUCTION = re.compile(
    rf"[，,。；;\s]*请(?!问)[^。！？!?；;，,\n]{{0,40}}?({_VERBS})[^。！？!?；;，,\n]{{0,24}}$"
)
_TRAILING_NOISE = re.compile(
    r"[\s，,。！!；;、~～]+$|谢谢[！!。，,~～]*$|[)）]$|响应(处置|处理)$|请[^。！？!?，,；;\n]{0,20}(局|委|中心|公司|支队|大队|政府|办|部门)$"
)
# "故来电反映", "故此来电", "故投诉": the operator's closing formula.
_TRAILING_FORMULA = re.compile(
    r"[，,。]?\s*(故|因此|所以|遂)(此)?(来电|致电|微信|留言)?(反映|投诉|咨询|求助|建议|举报|询问|反馈)?[。，,！!]*$"
)
_NO_TEXT = re.compile(r"^[\W_]*$")
# Follow-up tickets paste the history into one line; these start a new segment.
_SEGMENT_START = re.compile(
    r"(?<=[。！!？?）)\s])(?=(?:于\s*)?\d{2,4}-\d{1,2}-\d{1,2})|(?=\d{4}-\d{1,2}-\d{1,2}\s*\d{1,2}:\d{2})"
    r"|(?<=[^\n])(?=市民(?:再次|通过)?(?:来电|微信|公众号|市民云|网站|短信)?(?:再次)?(?:反映|咨询|投诉|补充|反馈)[:：])"
    r"|(?<=[（(]\d{11}[)）])|(?<=[（(]\d{14}[)）])"
)
_BARE_TICKET_NO = re.compile(r"[（(]\s*\d{11,14}\s*[)）]")
# "请市公安局核实处理！" inside a segment (another remark follows it): operator-speak, never a caller's.
_INLINE_INSTRUCTION = re.compile(r"[，,]?请[^。！？!?，,；;\n请]{1,15}?核实(?:处理|调查|办理|回复)?[！!。，,]*")


def split_channel_prefix(text: str) -> tuple[str, str]:
    """Split "市民来电咨询：外地积分落户政策…" into ("咨询", "外地积分落户政策…").

    The first element is the request kind the operator wrote (反映, 咨询, 投诉, 建议, 反馈, …) or "" when
    the text has no channel prefix; the second is the text without the prefix.
    """
    match = _CHANNEL_PREFIX.match(text)
    if not match:
        return "", text.strip()
    kind = match.group("kind")
    if kind == "来电":
        kind = ""
    else:
        found = _REQUEST_KIND.search(kind)
        kind = found.group(1) if found else ""
    return kind, text[match.end() :].strip()


def strip_routing_instruction(text: str) -> str:
    """What a caller could have said: the ticket text without the operator's additions.

    Removes the channel prefix ("市民来电反映:"), trailing routing instructions ("请市住建核实处理，
    谢谢！"), the duty-time note ("（请职能局按规定在30分钟内联系市民，响应处置）"), closing formulas
    ("故来电反映"), ticket numbers, and in follow-up tickets the departments' replies and callback
    headers (keeping the quoted title 《关于…的问题》). A 请 inside the caller's own sentences stays.
    Segments are joined with newlines; the result may be empty.
    """
    kept: list[str] = []
    for raw_line in _SEGMENT_START.sub("\n", text or "").splitlines():
        line = _CONTENT_LABEL.sub("", raw_line.strip())
        if not line:
            continue
        if _is_reply(line):
            continue
        title = _TITLE.search(line) if _TICKET_NO.search(line) else None
        _, line = split_channel_prefix(line)
        if title:
            # a callback header ("交警来电反馈: 工单号…《关于…的问题》工单处理情况"): only the title is content
            line = title.group("title")
        line = _BARE_TICKET_NO.sub("", _TICKET_NO.sub("", line))
        line = _INLINE_INSTRUCTION.sub("", line)
        line = _DUTY_NOTE.sub("", line)
        line = _strip_tail(line)
        # "工单内容：（公安局来电反映:…）" leaves a prefix inside an opening bracket
        if line[:1] in "（(":
            _, line = split_channel_prefix(line[1:])
            line = _strip_tail(line)
        if not _NO_TEXT.match(line):
            kept.append(line)
    return "\n".join(kept)


def _is_reply(line: str) -> bool:
    head = re.split(r"[:：]", line, maxsplit=1)[0] if re.search(r"[:：]", line[:45]) else ""
    if _DATE.match(line) or re.match(r"^于\s*\d{4}", line):
        return True
    if not head or "市民" in head or len(head) > 40:
        return False
    if _DATE.search(head):
        return True
    return "来电" not in head and bool(_REPLY_SPEAKER.search(head))


def _strip_tail(line: str) -> str:
    while True:
        shorter = _TRAILING_NOISE.sub("", line)
        shorter = _TRAILING_INSTRUCTION.sub("", shorter)
        shorter = _TRAILING_FORMULA.sub("", shorter)
        if shorter == line:
            return line.strip()
        line = shorter
