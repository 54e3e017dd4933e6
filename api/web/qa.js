// 质检: search calls, play one in step with its transcript, confirm the automatic service checks, mark
// turns, score, and save the audit (POST /v1/calls/{id}/audit); the per-agent summary below.

import {
  callFacts, callListItem, ROLE_NAMES, STATUS_LABELS, TICKET_STATE_LABELS, api, el, fill, formatDateTime, formatSeconds, isTyping,
  loadReference, mountHeader, requireRole, say, selectOptions,
} from "./api.js";
import { CallPlayer } from "./player.js";

const PAGE_SIZE = 20;

// The names QA staff use for the mark kinds; which kinds there are comes from GET /v1/reference.
const MARK_KINDS = {
  asr_error: "ASR识别错误",
  wrong_speaker: "说话人错误",
  no_greeting: "未规范问候",
  number_not_read_back: "未复述号码",
  address_not_read_back: "未复述地址",
  impolite: "态度不佳",
  forbidden_words: "服务禁语",
  other: "其他",
};
const RUBRIC = [
  ["service", "服务规范"],
  ["accuracy", "信息准确"],
  ["handling", "业务处理"],
  ["attitude", "沟通态度"],
];
const RUBRIC_MAX = 25;
const CHECK_LABELS = {
  greeting: "规范问候",
  number_read_back: "复述号码",
  summary_confirmed: "复述诉求",
  closing: "结束语",
  no_forbidden_words: "无禁语",
};

const $ = (id) => document.getElementById(id);
const player = new CallPlayer($("audio"), $("transcript"), (index) => chooseTurn(index));

const state = {
  offset: 0,
  total: 0,
  calls: [],
  selected: null,
  transcript: null,
  checks: {},
  marks: [],
  markKinds: null, // the reference's mark kinds once loaded
  loadToken: 0,
  busy: false,
};

// ---- search and paging ---------------------------------------------------------------------------

const searchForm = $("search");

/** The date inputs' days as they are: the API takes a date as that whole day of the calls' start times, at
 * either end, the same dates the list shows. */
function dateRange() {
  return { since: $("s-since").value, until: $("s-until").value };
}

function searchQuery() {
  const values = Object.fromEntries(new FormData(searchForm).entries());
  return { ...values, q: values.q.trim(), agent_id: values.agent_id.trim(), department: values.department.trim(),
    ...dateRange() };
}

async function search() {
  $("search-button").disabled = true;
  try {
    const page = await api("/v1/calls", { query: { ...searchQuery(), limit: PAGE_SIZE, offset: state.offset } });
    state.calls = page.items;
    state.total = page.total;
    renderResults();
    say("results-error", "");
  } catch (error) {
    say("results-error", `检索失败：${error.message}`, "error");
  } finally {
    $("search-button").disabled = false;
  }
}

function renderResults() {
  const items = state.calls.map((call) => callListItem(call, state.selected, selectCall, [
    call.agent_id ? el("span", { className: "q-agent" }, `工号 ${call.agent_id}`) : null,
    auditTag(call),
  ], call.department
    ? el("span", { className: "q-line q-sub" },
      el("span", { className: "q-dept", title: call.department }, call.department))
    : null));
  fill($("results"), ...items);
  if (!items.length) $("results").append(el("li", { className: "empty" }, "没有符合条件的通话"));
  const from = state.total ? state.offset + 1 : 0;
  const to = state.offset + state.calls.length;
  $("results-meta").textContent = `共 ${state.total} 通`;
  $("page-info").textContent = state.total ? `第 ${from}–${to} 通` : "";
  $("prev-page").disabled = state.offset === 0;
  $("next-page").disabled = to >= state.total;
}

/** A score as QA writes it: 87, or 87.5 when it has a fraction. */
function formatScore(score) {
  return String(Math.round(score * 10) / 10);
}

/** 已质检 87分 (the latest audit's score) or 未质检. */
function auditTag(call) {
  if (call.audit_score === null || call.audit_score === undefined) {
    return el("span", { className: "q-audit" }, "未质检");
  }
  return el("span", { className: "q-audit is-audited", title: `最近质检：${formatDateTime(call.audited_at)}` },
    `已质检 ${formatScore(call.audit_score)}分`);
}

/** After an audit is saved, its row shows the new score (the list is not searched again under the user). */
async function refreshResult(callId) {
  const index = state.calls.findIndex((call) => call.call_id === callId);
  if (index < 0) return;
  try {
    state.calls[index] = await api(`/v1/calls/${encodeURIComponent(callId)}`);
  } catch {
    return; // the row keeps its old state; the next search shows the new one
  }
  const focused = $("results").contains(document.activeElement) ? document.activeElement.dataset.callId : null;
  renderResults();
  if (focused) $("results").querySelector(`[data-call-id="${CSS.escape(focused)}"]`)?.focus();
}

searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  state.offset = 0;
  search();
  loadSummary();
});
searchForm.addEventListener("reset", () => {
  // After the browser has emptied the fields.
  setTimeout(() => {
    state.offset = 0;
    search();
    loadSummary();
  });
});
$("prev-page").addEventListener("click", () => {
  state.offset = Math.max(0, state.offset - PAGE_SIZE);
  search();
});
$("next-page").addEventListener("click", () => {
  if (state.offset + PAGE_SIZE < state.total) state.offset += PAGE_SIZE;
  search();
});

function moveSelection(step) {
  if (!state.calls.length) return;
  const index = state.calls.findIndex((call) => call.call_id === state.selected);
  const next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), state.calls.length - 1);
  if (next !== index) selectCall(state.calls[next].call_id);
}

// ---- one call ------------------------------------------------------------------------------------

async function selectCall(callId) {
  if (state.marks.length && callId !== state.selected &&
      !window.confirm("已添加的标记尚未保存，切换后会丢失。确定切换吗？")) return;
  const token = ++state.loadToken;
  state.selected = callId;
  history.replaceState(null, "", `#call=${encodeURIComponent(callId)}`);
  for (const button of $("results").querySelectorAll(".queue-item")) {
    if (button.dataset.callId === callId) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  say("audit-error", "");
  say("audit-message", "");
  const path = `/v1/calls/${encodeURIComponent(callId)}`;
  try {
    const call = await api(path);
    if (token !== state.loadToken) return;
    renderCallMeta(call);
    if (call.status !== "done") {
      player.clear();
      showNoAudit(call.status === "failed"
        ? `处理失败：${call.error?.message || call.error?.kind || "未知原因"}`
        : `${STATUS_LABELS[call.status]}，转写完成后才能质检。`);
      renderAudits([]);
      renderLinks([]);
      return;
    }
    const [transcript, checks, audits, links] = await Promise.all([
      api(`${path}/transcript`), api(`${path}/checks`), api(`${path}/audits`), api(`${path}/links`), reference(),
    ]);
    if (token !== state.loadToken) return;
    state.transcript = transcript;
    state.checks = checks;
    player.load(callId, transcript, call.audio_available);
    resetAuditForm();
    renderAudits(audits);
    renderLinks(links);
  } catch (error) {
    if (token !== state.loadToken) return;
    showNoAudit("");
    renderLinks([]);
    say("audit-error", `无法打开该通话：${error.message}`, "error");
  }
}

function renderCallMeta(call) {
  $("call-title").textContent = `通话 ${call.call_id}`;
  fill($("call-meta"),
    ...callFacts(call),
    el("span", {}, `工单${TICKET_STATE_LABELS[call.ticket_state] || call.ticket_state}`),
    call.department ? el("span", {}, call.department) : null);
}

function showNoAudit(message) {
  state.transcript = null;
  state.marks = [];
  $("audit-form").hidden = true;
  $("audit-empty").hidden = !message;
  $("audit-empty").textContent = message;
}

function turnLabel(index) {
  const turn = state.transcript.turns[index];
  const who = ROLE_NAMES[turn.role] || turn.speaker || turn.role;
  const text = turn.text.length > 18 ? `${turn.text.slice(0, 18)}…` : turn.text;
  return `第${index + 1}句 ${who} ${formatSeconds(turn.start)} ${text}`;
}

function resetAuditForm() {
  $("audit-empty").hidden = true;
  $("audit-form").hidden = false;
  state.marks = [];
  renderChecks();
  fill($("mark-turn"), ...state.transcript.turns.map((_, index) =>
    el("option", { value: String(index) }, turnLabel(index))));
  fill($("mark-kind"), ...selectOptions(state.markKinds || Object.keys(MARK_KINDS), MARK_KINDS));
  $("mark-note").value = "";
  syncCorrectedText(true);
  renderMarks();
  for (const [name] of RUBRIC) $(`rubric-${name}`).value = "";
  $("score").value = "";
  $("comment").value = "";
}

// ---- automatic checks ----------------------------------------------------------------------------

// The auditor's verdict on each check: the machine's is shown beside it, never taken for the auditor's.
const REVIEW_CHOICES = [["open", "未核对", null], ["pass", "通过", true], ["fail", "未通过", false]];

/** A judged turn as its link: 第9句 0:33; a click plays the turn and shows it in the transcript. */
function judgedTurnLink(check, judged) {
  const label = `第${judged.index + 1}句 ${formatSeconds(judged.start)}`;
  const link = el("button", { type: "button", className: "link-btn check-turn",
    "aria-label": `${check.label}：播放${label}` }, label);
  link.addEventListener("click", () => {
    player.focusTurn(judged.index);
    player.playSpan(judged.start, judged.end);
  });
  return link;
}

function renderChecks() {
  const items = Object.entries(state.checks).map(([name, check]) => {
    const judged = check.turns?.length ? check.turns
      : Number.isInteger(check.turn) ? [{ index: check.turn, ...state.transcript.turns[check.turn] }] : [];
    const choices = REVIEW_CHOICES.map(([value, text]) => el("label", { className: `review-choice review-${value}` },
      el("input", { type: "radio", name: `chk-${name}`, id: `chk-${name}-${value}`, value, checked: value === "open" }),
      text));
    return el("li", { className: "check" },
      el("span", { className: "check-label", id: `chk-${name}-label` }, check.label),
      el("span", { className: `auto-verdict ${check.passed ? "verdict-pass" : "verdict-fail"}` },
        check.passed ? "自动判定 ✓ 通过" : "自动判定 ✗ 未通过"),
      el("span", { className: "check-turns" }, ...judged.map((turn) => judgedTurnLink(check, turn))),
      el("span", { className: "review-choices", role: "radiogroup", "aria-labelledby": `chk-${name}-label` },
        ...choices),
      check.text ? el("q", { className: "check-text" }, check.text) : null);
  });
  fill($("checks"), ...items);
}

/** The auditor's verdicts: true, false, or null for a check left 未核对. */
function reviewedChecks() {
  return Object.fromEntries(Object.keys(state.checks).map((name) => {
    const chosen = document.querySelector(`input[name="chk-${CSS.escape(name)}"]:checked`)?.value || "open";
    return [name, REVIEW_CHOICES.find(([value]) => value === chosen)[2]];
  }));
}

$("accept-checks").addEventListener("click", () => {
  for (const [name, check] of Object.entries(state.checks)) {
    $(`chk-${name}-${check.passed ? "pass" : "fail"}`).checked = true;
  }
});

// ---- marks ---------------------------------------------------------------------------------------

function chooseTurn(index) {
  $("mark-turn").value = String(index);
  syncCorrectedText(true);
}

/** The corrected-text field is for ASR errors; it starts as the turn's text so only the fix is typed. */
function syncCorrectedText(prefill) {
  const isAsr = $("mark-kind").value === "asr_error";
  const input = $("mark-corrected");
  input.disabled = !isAsr;
  $("mark-corrected-label").classList.toggle("is-disabled", !isAsr);
  const turn = state.transcript?.turns[Number($("mark-turn").value)];
  if (isAsr && prefill && turn) input.value = turn.text;
  if (!isAsr) input.value = "";
}

$("mark-turn").addEventListener("change", () => {
  syncCorrectedText(true);
  player.focusTurn(Number($("mark-turn").value));
  $("mark-turn").focus();
});
$("mark-kind").addEventListener("change", () => syncCorrectedText(true));

$("add-mark").addEventListener("click", () => {
  const turn = Number($("mark-turn").value);
  const kind = $("mark-kind").value;
  if (!Number.isInteger(turn) || !state.transcript?.turns[turn]) return;
  const mark = { turn, kind };
  const corrected = $("mark-corrected").value.trim();
  if (kind === "asr_error") {
    if (!corrected || corrected === state.transcript.turns[turn].text) {
      say("audit-message", "请在“正确文字”中改正识别错误的文字", "error");
      $("mark-corrected").focus();
      return;
    }
    mark.corrected_text = corrected;
  }
  const note = $("mark-note").value.trim();
  if (note) mark.note = note;
  state.marks.push(mark);
  $("mark-note").value = "";
  say("audit-message", `已添加标记：${turnLabel(turn).split(" ")[0]} ${MARK_KINDS[kind]}`, "info");
  renderMarks();
});

function renderMarks() {
  const byTurn = new Map();
  fill($("marks"), ...state.marks.map((mark, index) => {
    byTurn.set(mark.turn, [...(byTurn.get(mark.turn) || []), MARK_KINDS[mark.kind]]);
    const remove = el("button", { type: "button", className: "link-btn", "aria-label": `删除标记 ${index + 1}` }, "删除");
    remove.addEventListener("click", () => {
      state.marks.splice(index, 1);
      renderMarks();
      $("add-mark").focus();
    });
    return el("li", {},
      el("span", { className: "badge badge-mark" }, MARK_KINDS[mark.kind]),
      ` 第${mark.turn + 1}句`,
      mark.corrected_text ? el("span", { className: "corrected" }, ` 改为：${mark.corrected_text}`) : null,
      mark.note ? el("span", { className: "note" }, `（${mark.note}）`) : null,
      " ", remove);
  }));
  state.transcript?.turns.forEach((_, index) => player.setBadges(index, byTurn.get(index) || []));
}

// ---- score and save ------------------------------------------------------------------------------

function renderRubric() {
  fill($("rubric"), ...RUBRIC.map(([name, label]) => {
    const input = el("input", {
      id: `rubric-${name}`, type: "number", min: "0", max: String(RUBRIC_MAX), step: "1", inputmode: "numeric",
    });
    input.addEventListener("input", sumRubric);
    return el("div", { className: "rubric-item" },
      el("label", { for: input.id }, `${label}`, el("span", { className: "max" }, `/${RUBRIC_MAX}`)), input);
  }));
}

function rubricValues() {
  const values = {};
  for (const [name] of RUBRIC) {
    const raw = $(`rubric-${name}`).value;
    if (raw !== "") values[name] = Number(raw);
  }
  return values;
}

/** The total follows the rubric; the reviewer can still overwrite it afterwards. */
function sumRubric() {
  const values = Object.values(rubricValues());
  if (values.length) $("score").value = String(values.reduce((sum, value) => sum + value, 0));
}

$("audit-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.selected || state.busy) return;
  const rubric = rubricValues();
  const bad = Object.entries(rubric).find(([, value]) => !(value >= 0 && value <= RUBRIC_MAX));
  if (bad) {
    say("audit-message", `评分项须在 0–${RUBRIC_MAX} 之间`, "error");
    $(`rubric-${bad[0]}`).focus();
    return;
  }
  const score = $("score").value === "" ? NaN : Number($("score").value);
  if (!(score >= 0 && score <= 100)) {
    say("audit-message", "请填写 0–100 的总分", "error");
    $("score").focus();
    return;
  }
  const body = { score, rubric, checks: reviewedChecks(), marks: state.marks };
  const comment = $("comment").value.trim();
  if (comment) body.comment = comment;
  state.busy = true;
  $("save-audit").disabled = true;
  const callId = state.selected;
  try {
    await api(`/v1/calls/${encodeURIComponent(callId)}/audit`, { method: "POST", body });
    const audits = await api(`/v1/calls/${encodeURIComponent(callId)}/audits`);
    if (callId === state.selected) {
      resetAuditForm();
      renderAudits(audits);
      say("audit-message", "质检结果已保存", "ok");
    }
    refreshResult(callId);
    loadSummary();
  } catch (error) {
    say("audit-message", `保存失败：${error.message}`, "error");
  } finally {
    state.busy = false;
    $("save-audit").disabled = false;
  }
});

function renderAudits(audits) {
  if (!audits.length) {
    fill($("audits"), el("li", { className: "empty" }, "这通电话还没有质检记录。"));
    return;
  }
  const rubricNames = Object.fromEntries(RUBRIC);
  fill($("audits"), ...[...audits].reverse().map((audit) => {
    const failed = Object.entries(audit.checks || {}).filter(([, passed]) => passed === false)
      .map(([name]) => CHECK_LABELS[name] || name);
    const open = Object.entries(audit.checks || {}).filter(([, passed]) => passed === null)
      .map(([name]) => CHECK_LABELS[name] || name);
    const rubric = Object.entries(audit.rubric || {}).map(([name, value]) => `${rubricNames[name] || name} ${value}`);
    return el("li", { className: "audit" },
      el("p", { className: "audit-head" },
        el("strong", {}, `${audit.score} 分`), ` · ${audit.actor} · ${formatDateTime(audit.at)}`),
      rubric.length ? el("p", {}, rubric.join("，")) : null,
      el("p", {}, failed.length ? `未通过：${failed.join("、")}` : open.length ? "服务规范检查无未通过项" : "服务规范检查全部通过"),
      open.length ? el("p", {}, `未核对：${open.join("、")}`) : null,
      (audit.marks || []).length
        ? el("ul", { className: "audit-marks" }, audit.marks.map((mark) => el("li", {},
          `第${mark.turn + 1}句 ${MARK_KINDS[mark.kind] || mark.kind}`,
          mark.corrected_text ? ` 改为：${mark.corrected_text}` : "",
          mark.note ? `（${mark.note}）` : "")))
        : null,
      audit.comment ? el("p", { className: "audit-comment" }, `评语：${audit.comment}`) : null);
  }));
}

// ---- per-agent summary ---------------------------------------------------------------------------

async function loadSummary() {
  const { since, until } = dateRange();
  const range = since || until
    ? `${$("s-since").value || "最早"} 至 ${$("s-until").value || "今天"}`
    : "全部时间";
  $("summary-meta").textContent = `时间范围：${range}（与检索的日期一致；分数按每通电话最近一次质检）`;
  try {
    const rows = await api("/v1/audits/summary", { query: { since, until } });
    const body = rows.map((row) => {
      const marks = Object.entries(row.marks || {}).map(([kind, count]) => `${MARK_KINDS[kind] || kind} ${count}`);
      return el("tr", {},
        el("th", { scope: "row" }, row.agent_id),
        el("td", { className: "num" }, String(row.calls)),
        el("td", { className: "num" }, String(row.audited)),
        el("td", { className: "num" }, row.mean_score === null ? "—" : row.mean_score.toFixed(1)),
        el("td", { className: "num" }, row.min_score === null ? "—" : String(row.min_score)),
        el("td", {}, marks.length ? marks.join("，") : "—"));
    });
    if (!body.length) body.push(el("tr", {}, el("td", { colspan: "6", className: "empty" }, "该时间范围内没有通话")));
    fill($("summary"), ...body);
    say("summary-error", "");
  } catch (error) {
    say("summary-error", `汇总加载失败：${error.message}`, "error");
  }
}

// ---- keyboard ------------------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  const ctrl = event.ctrlKey || event.metaKey;
  if (event.altKey && !ctrl && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    event.preventDefault();
    moveSelection(event.key === "ArrowDown" ? 1 : -1);
  } else if (event.key === " " && !ctrl && !event.altKey && !isTyping(event.target)) {
    const target = event.target instanceof Element ? event.target : null;
    if (target?.closest("audio, a, summary") || (target?.closest("button") && !target.closest(".turn-head"))) return;
    event.preventDefault();
    player.togglePlay();
  }
});

// ---- reference lists -----------------------------------------------------------------------------

/** The mark kinds from GET /v1/reference (loaded once; without them the known kinds are offered). */
async function reference() {
  if (state.markKinds) return;
  try {
    state.markKinds = (await loadReference()).mark_kinds;
    say("reference-error", "");
  } catch (error) {
    say("reference-error", `选项清单加载失败（${error.message}），问题类型可能不全`, "error");
  }
}

// ---- start ---------------------------------------------------------------------------------------

const user = await requireRole("qa");
mountHeader(user);
renderRubric();
await Promise.all([search(), loadSummary(), reference()]);
const fromHash = new URLSearchParams(location.hash.slice(1)).get("call");
if (fromHash) selectCall(fromHash);

// 并单记录: which earlier tickets the operator linked this call to (or dismissed), and the later calls linked to it
// (GET /v1/calls/{id}/links), with who and when.
const LINK_WORDS = { link: "并入", dismiss: "忽略" };

function renderLinks(links) {
  $("links-box").hidden = !links.length;
  fill($("links"), ...links.map((link) => el("li", { dataset: { ticket: link.ticket_id } },
    el("span", { className: "trail-head" }, `${formatDateTime(link.at)} · ${link.actor}`),
    el("span", {}, link.direction === "to"
      ? `${LINK_WORDS[link.action] || link.action}工单 ${link.ticket_id}${link.department ? `（${link.department}）` : ""}`
      : `来电 ${link.call_id} 并入本工单`),
    el("span", { className: "trail-details" }, link.text.length > 100 ? `${link.text.slice(0, 100)}…` : link.text))));
}
