// 接线员工作台: the queue of recent calls, the selected call's audio and transcript, and its pre-filled
// ticket to correct, route and accept (PATCH /v1/calls/{id}/ticket).

import {
  callFacts, callListItem, STATUS_LABELS, TICKET_STATE_LABELS, api, el, fill, formatDateTime,
  isTyping, loadReference, mountHeader, requireRole, reviewBadge, say, selectOptions,
} from "./api.js";
import { LiveFeed, offerMachineValue } from "./live.js";
import { CallPlayer } from "./player.js";

const REFRESH_MS = 10_000;
const FILTERS_KEY = "hotline.operator.filters"; // filters only; the API key is never stored

// Chinese names of the closed fields' values. Which values there are comes from GET /v1/reference;
// a value missing here is shown as it is (request types are Chinese already).
const URGENCY = { urgent: "紧急", high: "较急", normal: "一般" };
const EMOTION = { angry: "愤怒", anxious: "焦虑", distressed: "痛苦无助", calm: "平静" };

/** The ticket form, in the order an operator reads it: [name, label, control, wide]. */
const FIELDS = [
  ["caller_name", "姓名", "text"],
  ["caller_surname", "姓氏", "text"],
  ["honorific", "称呼", "text"],
  ["phone", "回访电话", "text"],
  ["id_number", "身份证号", "text", true],
  ["address", "地址", "text", true],
  ["province", "省", "text"],
  ["city", "市", "text"],
  ["district", "区", "text"],
  ["street", "街道", "text"],
  ["address_detail", "详细地址", "text", true],
  ["event_time", "事发时间", "text"],
  ["request_type", "诉求类型", "select"],
  ["category", "类别", "text"],
  ["urgency", "紧急程度", "select"],
  ["emotion", "情绪", "select"],
  ["summary", "诉求摘要", "textarea", true],
];
/** The pipeline's stages (`run_pipeline`'s hook names, then the extract phase), as the queue row says them. */
const STAGE_LABELS = {
  decode: "解码中",
  vad: "检测语音",
  transcribe: "转写中",
  diarize: "区分说话人",
  repair: "校正词语",
  roles: "识别角色",
  extract: "提取工单",
};
const FIELD_LABELS = Object.fromEntries(FIELDS.map(([name, label]) => [name, label]));
/** The select fields: the reference list their values come from, and their labels. */
const SELECTS = {
  request_type: ["request_types", {}],
  urgency: ["urgency_levels", URGENCY],
  emotion: ["emotions", EMOTION],
};
const SOURCES = {
  spoken: "通话中所述",
  caller_turns: "市民原话",
  operator: "接线员所述",
  operator_readback: "接线员复述",
  corrected: "人工修改",
  ani: "主叫号码",
  ani_fallback: "号码未听清，主叫号码",
  ani_matched: "所述号码与主叫号码仅差一两位，取主叫号码",
  inferred: "推断",
  catalogue: "事项目录",
  default: "默认值",
  declined: "市民未提供",
};
/** Sources of a callback number taken from the call's metadata (the caller ID), not from what was said. */
const ANI_SOURCES = new Set(["ani", "ani_fallback", "ani_matched"]);

const percent = (value) => `${Math.round((value || 0) * 100)}%`;

// What needs checking, in the operator's words, from each review reason's code. The reasons are the ticket's
// ({code, field, value, threshold}, made by extract/review.py and made again after each save): the page keeps no
// threshold of its own. A code missing here shows its English message.
const REASONS = {
  missing: () => "未填写",
  low_confidence: (reason) => `置信度 ${percent(reason.value)}，低于 ${percent(reason.threshold)}，请核对`,
  no_request: () => "没有识别出诉求，请填写",
  department_low_score: (reason) => `首选匹配度 ${percent(reason.value)}，低于 ${percent(reason.threshold)}，请确认`,
  department_close: (reason) =>
    `前两个推荐的匹配度仅差 ${percent(reason.value)}（不足 ${percent(reason.threshold)}），请确认`,
  no_department: () => "没有推荐，请选择承办单位",
  department_not_auto: () => "首选单位未达到自动派单的把握，请确认",
  urgent: () => "紧急诉求，派单前需人工确认",
  no_caller_speech: () => "没有识别到市民发言",
  caller_speech_low_confidence: (reason) =>
    `市民发言识别置信度 ${percent(reason.value)}，低于 ${percent(reason.threshold)}，请听录音核对`,
  phone_invalid: () => "号码无效，请与市民核对",
  phone_misheard: () => "所述号码未听清，已填主叫号码，请与市民核对",
  phone_matched_ani: () => "所述号码与主叫号码仅差一两位，已填主叫号码，请与市民核对",
  phone_conflict: (reason) => `通话中复述的号码是 ${reason.value}，与所填号码不同，请与市民核对`,
  // its message is the duty catalogue's own advice for the caller, in Chinese
  out_of_scope: (reason) => `可能不属受理范围：${reason.message}`,
  empty_transcript: () => "转写为空",
  no_caller: () => "没有市民发言",
  turn_truncated: (reason) => `超过 ${reason.threshold} 字的句子被截断`,
  not_chinese: () => "转写大部分不是中文",
};

const $ = (id) => document.getElementById(id);
const audio = $("audio");
const player = new CallPlayer(audio, $("transcript"));

const state = {
  calls: [],
  selected: null, // call id
  call: null, // its CallStatus
  ticket: null, // its TicketOut as last loaded or saved
  reference: null, // GET /v1/reference once loaded: the departments and the selects' values
  evidenceStep: {}, // field → which evidence item the next click plays
  loadToken: 0,
  busy: false,
  live: null, // the LiveFeed of the open call while it is in progress
  refining: null, // the same after hang-up, while the full-call pass runs (saving is open again)
  departmentTouched: false, // the operator picked a unit: a newer live ticket does not move the choice
  timer: null,
};

// ---- queue ---------------------------------------------------------------------------------------

const filterForm = $("queue-filters");

function readFilters() {
  return Object.fromEntries(new FormData(filterForm).entries());
}

/** The filters this browser used last; returns them. */
function restoreFilters() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(FILTERS_KEY) || "{}");
  } catch {
    saved = {};
  }
  for (const [name, value] of Object.entries(saved)) {
    const control = filterForm.elements.namedItem(name);
    if (control && typeof value === "string") control.value = value;
  }
  return saved;
}

filterForm.addEventListener("submit", (event) => {
  event.preventDefault();
  refreshQueue();
});
filterForm.addEventListener("change", () => {
  localStorage.setItem(FILTERS_KEY, JSON.stringify(readFilters()));
  refreshQueue();
});

async function refreshQueue() {
  clearTimeout(state.timer);
  try {
    const page = await api("/v1/calls", { query: { ...readFilters(), limit: 50 } });
    state.calls = page.items;
    renderQueue(page.total);
    say("queue-error", "");
    followSelectedCall();
  } catch (error) {
    say("queue-error", `刷新失败：${error.message}`, "error");
  } finally {
    state.timer = setTimeout(refreshQueue, REFRESH_MS);
  }
}

function renderQueue(total) {
  const list = $("queue");
  // Re-rendering replaces the buttons; keep keyboard focus on the same call.
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.callId : null;
  const items = state.calls.map((call) => callListItem(call, state.selected, selectCall, [
    call.status === "processing" ? stageLabel(call) : null,
    el("span", { className: `q-state state-${call.ticket_state}` },
      TICKET_STATE_LABELS[call.ticket_state] || call.ticket_state),
    call.agent_id ? el("span", { className: "q-agent" }, `工号 ${call.agent_id}`) : null,
  ]));
  list.replaceChildren(...items);
  if (!items.length) list.append(el("li", { className: "empty" }, "没有符合条件的来电"));
  if (focused) list.querySelector(`[data-call-id="${CSS.escape(focused)}"]`)?.focus();
  const now = new Date();
  const time = now.toLocaleTimeString("zh-CN", { hour12: false });
  $("queue-meta").textContent = `共 ${total} 通${total > state.calls.length ? `，显示最新 ${state.calls.length} 通` : ""}` +
    ` · 每 10 秒自动刷新（${time}）`;
}

/** What a call being processed is doing now, from its last heartbeat: 转写中 50% (the share when the stage
 * reports one: channels transcribed, of all). */
function stageLabel(call) {
  const label = STAGE_LABELS[call.stage] || call.stage || "处理中";
  const progress = (call.progress || {})[call.stage] || {};
  const share = progress.total > 0 && progress.completed > 0
    ? ` ${Math.round((100 * progress.completed) / progress.total)}%` : "";
  return el("span", { className: "q-stage", title: "处理阶段" }, `${label}${share}`);
}

function markSelectedInQueue() {
  for (const button of $("queue").querySelectorAll(".queue-item")) {
    if (button.dataset.callId === state.selected) {
      button.setAttribute("aria-current", "true");
      button.scrollIntoView({ block: "nearest" });
    } else {
      button.removeAttribute("aria-current");
    }
  }
}

/** When the open call finishes processing (or changes elsewhere), show it again unless edits are pending. */
function followSelectedCall() {
  if (!state.selected || !state.call || state.live) return; // a live call's own stream brings its end
  const fresh = state.calls.find((call) => call.call_id === state.selected);
  if (!fresh) return;
  const finished = fresh.status !== state.call.status && (fresh.status === "done" || fresh.status === "failed");
  if (finished && !isDirty()) selectCall(state.selected, true);
}

function moveSelection(step) {
  if (!state.calls.length) return;
  const index = state.calls.findIndex((call) => call.call_id === state.selected);
  const next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), state.calls.length - 1);
  if (next !== index) selectCall(state.calls[next].call_id);
}

// ---- the selected call ---------------------------------------------------------------------------


/** A finished call's transcript and ticket, with the reference lists the ticket form needs. */
function transcriptAndTicket(callId) {
  const id = encodeURIComponent(callId);
  return Promise.all([api(`/v1/calls/${id}/transcript`), api(`/v1/calls/${id}/ticket`), reference()]);
}

async function selectCall(callId, reload = false) {
  if (!reload && callId === state.selected && state.ticket) return;
  const switching = callId !== state.selected;
  if (switching && isDirty() && !window.confirm("当前工单有未保存的修改，切换后会丢失。确定切换吗？")) {
    // the address bar keeps naming the call still open (it may have been edited to another)
    history.replaceState(null, "", `#call=${encodeURIComponent(state.selected)}`);
    return;
  }
  const token = ++state.loadToken;
  stopLive();
  state.selected = callId;
  history.replaceState(null, "", `#call=${encodeURIComponent(callId)}`);
  markSelectedInQueue();
  say("ticket-error", "");
  say("ticket-message", "");
  if (switching) showLoading(callId);
  try {
    const call = await api(`/v1/calls/${encodeURIComponent(callId)}`);
    if (token !== state.loadToken) return;
    state.call = call;
    renderCallMeta(call);
    if (call.status === "live") {
      followLive(callId, token);
      return;
    }
    if (call.status !== "done") {
      showNoTicket(call.status === "failed"
        ? `处理失败：${call.error?.message || call.error?.kind || "未知原因"}`
        : `${STATUS_LABELS[call.status]}，转写完成后自动显示。`);
      if (call.audio_available) player.load(callId, { turns: [] }, true);
      else player.clear();
      return;
    }
    const [transcript, ticket] = await transcriptAndTicket(callId);
    if (token !== state.loadToken) return;
    player.load(callId, transcript, call.audio_available);
    renderTicket(ticket);
    $("ticket-pane").scrollTop = 0;
    loadRelated(callId, token);
  } catch (error) {
    if (token !== state.loadToken) return;
    showNoTicket("");
    say("ticket-error", `无法打开该来电：${error.message}`, "error");
  }
}

function renderCallMeta(call) {
  $("call-title").textContent = `通话 ${call.call_id}`;
  const [callerId, ...facts] = callFacts(call);
  callerId.classList.add("caller-id"); // the source a callback number from the caller ID points to
  fill($("call-meta"),
    callerId, ...facts,
    el("span", {}, STATUS_LABELS[call.status] || call.status));
}

/** A call just chosen: nothing of the previous one stays on screen (its ticket under this title) while it loads. */
function showLoading(callId) {
  $("call-title").textContent = `通话 ${callId}`;
  $("call-meta").textContent = "正在打开…";
  hideAdvanceNotice();
  player.clear();
  showNoTicket("正在打开…");
}

function showNoTicket(message) {
  state.ticket = null;
  $("ticket-form").hidden = true;
  $("ticket-empty").hidden = !message;
  $("ticket-empty").textContent = message;
}

// ---- the ticket ----------------------------------------------------------------------------------

function fieldText(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/**
 * 事发时间 as people write it, at the precision it was said: "2018-06-11T09:30" → "2018年6月11日 09:30",
 * "2018-06-11" (the day, not the hour) → "2018年6月11日", "2018-06" → "2018年6月"; other text as it is. What the
 * operator types instead is saved as written (the API takes words or ISO time).
 */
function formatEventTime(value) {
  const text = fieldText(value);
  const match = /^(\d{4})-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2}))?)?$/.exec(text);
  if (!match) return text;
  const [, year, month, day, hour, minute] = match;
  return `${year}年${Number(month)}月${day ? `${Number(day)}日` : ""}${hour ? ` ${hour}:${minute}` : ""}`;
}

/** A field's confidence, marked ⚠ 待核对 exactly when a review reason names the field. */
function confidenceNote(field, reasons) {
  const empty = field.value === null || field.value === undefined || field.value === "";
  if (reasons.length) {
    return el("span", { className: "conf conf-low", title: reasons.map((reason) => reasonText(reason, false)).join("；") },
      el("span", { "aria-hidden": "true" }, "⚠ "), `待核对 ${empty ? "未填写" : percent(field.confidence)}`);
  }
  if (empty) return el("span", { className: "conf conf-none" }, "未识别");
  return el("span", { className: "conf" }, `置信度 ${percent(field.confidence)}`);
}

function renderTicket(out) {
  state.ticket = out;
  state.evidenceStep = {};
  state.departmentTouched = false;
  const ticket = out.ticket || {};
  $("ticket-empty").hidden = true;
  $("ticket-form").hidden = false;
  renderFields(ticket);
  renderDepartments(ticket, out.department);
  renderTicketRest(out);
}

/** What the operator does not type into: the ticket's state, review box, knowledge-base answers and trail; then the
 * marks that depend on the form (missing, edited). Save and accept wait for the end of a live call. */
function renderTicketRest(out) {
  const ticket = out.ticket || {};
  const accepted = out.state === "accepted";
  fill($("ticket-state"),
    el("span", { className: `state-tag state-${out.state}` }, TICKET_STATE_LABELS[out.state] || out.state),
    accepted ? el("span", {}, `${out.accepted_by || ""} 于 ${formatDateTime(out.accepted_at)} 受理`) : null,
    out.department ? el("span", {}, `当前承办：${out.department}`) : null);
  $("accept").firstChild.textContent = accepted ? "再次确认受理 " : "确认受理 ";

  renderReview(ticket);
  renderKnowledge(ticket.kb_answers || []);
  renderTrail(out.changes || []);
  updateMissing();
  updateDirty();
  for (const button of [$("save"), $("accept")]) {
    button.disabled = Boolean(state.live);
    button.title = state.live ? "通话结束后可保存、受理" : "";
  }
}

/** A review reason in Chinese, led by the name of the field it is about unless `withField` is false. */
function reasonText(reason, withField = true) {
  const say = REASONS[reason.code];
  const text = say ? say(reason) : reason.message || reason.code;
  if (!withField || !reason.field) return text;
  return `${reason.field === "department" ? "承办部门" : FIELD_LABELS[reason.field] || reason.field}：${text}`;
}

/** The ticket's review reasons by the field they name (field → reasons). */
function reasonsByField(ticket) {
  const byField = new Map();
  for (const reason of ticket.review_reasons || []) {
    if (reason.field) byField.set(reason.field, [...(byField.get(reason.field) || []), reason]);
  }
  return byField;
}

// The box lists the review reasons, which hold the warnings still open: what needs checking is said once.
function renderReview(ticket) {
  const reasons = ticket.review_reasons || [];
  fill($("review-box"),
    el("p", { className: "review-line" }, "审核级别：", reviewBadge(ticket.review),
      ticket.review === "auto" ? el("span", {}, " 机器把握较高，可直接受理") : null,
      ticket.review !== "auto" && !reasons.length ? el("span", { className: "complete" }, " ✓ 待核对项已处理") : null),
    reasons.length ? el("ul", { className: "reasons", "aria-label": "需核对的原因" },
      reasons.map((reason) => el("li", { dataset: { code: reason.code, field: reason.field || "" } },
        reasonText(reason)))) : null);
}

function renderFields(ticket) {
  fill($("fields"), ...FIELDS.map((spec) => fieldRow(spec, ticket)));
}

/** One field of the form: label, confidence and source, the control with the ticket's value, ▶ 出处, flags. */
function fieldRow([name, label, control, wide], ticket) {
  const field = (ticket.fields || {})[name] || { value: null, confidence: 0, evidence: [] };
  const required = new Set(ticket.form?.required || []);
  const id = `f-${name}`;
  const reasons = reasonsByField(ticket).get(name) || [];
  const low = reasons.length > 0;
  // what the confidence note does not say already (another number read back, the caller ID put in) shows under it
  const notes = reasons.filter((reason) => reason.code !== "low_confidence" && reason.code !== "missing");
  let input;
  if (control === "textarea") {
    input = el("textarea", { id, name, rows: 3 });
    input.value = fieldText(field.value);
  } else if (control === "select") {
    const [list, labels] = SELECTS[name];
    const current = fieldText(field.value);
    // Without the reference (it failed to load) the labels' values stand in, with the field's own value.
    const values = state.reference ? state.reference[list] : Object.keys(labels);
    input = el("select", { id, name }, el("option", { value: "" }, "（未填）"), selectOptions(values, labels, current));
    input.value = current;
  } else {
    input = el("input", { id, name, type: "text", autocomplete: "off" });
    input.value = name === "event_time" ? formatEventTime(field.value) : fieldText(field.value);
  }
  input.dataset.original = input.value;
  input.setAttribute("aria-describedby", notes.length ? `c-${name} fl-${name}` : `c-${name}`);
  if (required.has(name)) input.setAttribute("aria-required", "true");
  input.addEventListener("input", () => { updateDirty(); updateMissing(); });
  input.addEventListener("change", () => { updateDirty(); updateMissing(); });
  const evidence = field.evidence || [];
  const fromCallerId = ANI_SOURCES.has(field.source);
  // Focusing a field shows where it came from without moving the audio (and no other field's source stays
  // marked); the button plays it.
  input.addEventListener("focus", () => showSource(evidence[0], fromCallerId));
  // The button is out of the Tab order (Tab goes field to field): Alt+P in the field presses it.
  if (evidence.length) input.setAttribute("aria-keyshortcuts", "Alt+P");
  const button = evidence.length
    ? el("button", {
      type: "button",
      className: "ev-btn",
      id: `ev-${name}`,
      tabIndex: -1,
      "aria-label": `播放「${label}」的出处`,
      title: evidence.length > 1 ? `共 ${evidence.length} 处出处，再按播放下一处（Alt+P）` : "在转写中标出并播放出处（Alt+P）",
    }, el("span", { "aria-hidden": "true" }, "▶ "), "出处")
    : null;
  button?.addEventListener("click", () => {
    const step = state.evidenceStep[name] || 0;
    markCallerId(fromCallerId);
    player.showEvidence(evidence[step % evidence.length], { play: true });
    state.evidenceStep[name] = step + 1;
  });
  const source = field.source ? el("span", { className: "source" }, SOURCES[field.source] || field.source) : null;
  return el("div", { className: `field${wide ? " field-wide" : ""}${low ? " field-low" : ""}`, dataset: { field: name } },
    el("div", { className: "field-head" },
      el("label", { for: id }, label, required.has(name) ? el("span", { className: "req", title: "必填", "aria-hidden": "true" }, "*") : null),
      el("span", { id: `c-${name}`, className: "field-notes" }, confidenceNote(field, reasons), source,
        el("span", { className: "edited", hidden: true }, "已修改"))),
    el("div", { className: "field-input" }, input, button),
    fromCallerId ? callerIdSource() : null,
    notes.length ? el("p", { id: `fl-${name}`, className: "field-flag" },
      el("span", { "aria-hidden": "true" }, "⚠ "), notes.map((reason) => reasonText(reason, false)).join("；")) : null);
}

/** Where a value from the caller ID came from, under its ▶ 出处: the call's metadata (来电 138****7731), marked there
 * when the field is focused. */
function callerIdSource() {
  return el("p", { className: "ev-callerid" }, el("span", { "aria-hidden": "true" }, "☎ "), "出处：主叫号码（通话信息“来电”）");
}

/** Marks (or unmarks) the caller number in the call's metadata as the source of the focused field. */
function markCallerId(on) {
  $("call-meta").querySelector(".caller-id")?.classList.toggle("is-evidence", on);
}

/** Shows where a field's value came from: its first evidence in the transcript, the caller ID, or nothing. */
function showSource(evidence, fromCallerId) {
  markCallerId(fromCallerId);
  if (evidence) player.showEvidence(evidence, { seek: false });
  else player.clearEvidence();
}

function renderDepartments(ticket, chosen) {
  const suggestions = ticket.department_suggestions || [];
  const options = suggestions.map((suggestion, index) => {
    const id = `dept-${index}`;
    const radio = el("input", { type: "radio", name: "department", id, value: suggestion.department });
    return el("div", { className: "department" },
      radio,
      el("label", { for: id },
        el("span", { className: "dept-rank" }, `${index + 1}`),
        el("span", { className: "dept-name" }, suggestion.department),
        el("span", { className: "dept-score" }, `匹配度 ${Math.round((suggestion.score || 0) * 100)}%`),
        // the routing model's calibrated confidence reached its threshold (extract/ticket.py): as sure as an operator
        suggestion.auto_dispatch ? el("span", { className: "badge badge-auto dept-auto" }, "可自动派单") : null,
        index < 5 ? el("kbd", { className: "dept-key" }, `Alt+${index + 1}`) : null),
      suggestion.reasons?.length
        ? el("ul", { className: "dept-reasons" }, suggestion.reasons.map((reason) => el("li", {}, reason)))
        : null);
  });
  if (!options.length) options.push(el("p", { className: "pane-meta" }, "没有推荐的承办部门，请在下面填写。"));
  fill($("department-options"), ...options);
  const other = $("dept-other");
  const otherText = $("dept-other-text");
  otherText.value = "";
  const match = suggestions.findIndex((suggestion) => suggestion.department === chosen);
  if (match >= 0) $(`dept-${match}`).checked = true;
  else if (chosen) {
    other.checked = true;
    otherText.value = chosen;
  } else if (suggestions.length) $("dept-0").checked = true;
  else other.checked = true;
  checkOtherDepartment();
}

/** The catalogue's unit names arrived: a unit already in the other-unit box is checked against them. */
function renderCatalogue() {
  if (document.activeElement !== $("dept-other-text")) checkOtherDepartment();
}

/**
 * A unit outside the duty catalogue is allowed (it may be new) but flagged, once the operator has left the
 * box (or a ticket opens with one): not while the name is still being typed.
 */
function checkOtherDepartment() {
  const typed = $("dept-other-text").value.trim();
  const known = state.reference?.departments;
  const outside = Boolean(typed && known && !known.includes(typed));
  const warning = $("dept-other-warning");
  if (outside) fill(warning, el("span", { "aria-hidden": "true" }, "⚠ "), "不在职责清单中，请核对单位名称");
  else warning.replaceChildren();
  warning.hidden = !outside;
  $("dept-other-text").setAttribute("aria-invalid", outside ? "true" : "false");
}

function chosenDepartment() {
  const checked = document.querySelector("input[name=department]:checked");
  if (!checked) return null;
  if (checked.value === "__other__") return $("dept-other-text").value.trim() || null;
  return checked.value;
}

function pickDepartment(index) {
  const radio = $(`dept-${index}`);
  if (!radio) return;
  radio.checked = true;
  radio.focus();
  state.departmentTouched = true;
  updateDirty();
}

$("departments").addEventListener("change", updateDirty);
for (const kind of ["change", "input"]) {
  $("departments").addEventListener(kind, (event) => {
    if (event.isTrusted) state.departmentTouched = true;
  });
}

// ---- 其他单位: search by duty (GET /v1/reference/departments) --------------------------------------------------
// Typing a matter ("电梯年检") or a name lists the catalogue's units that handle it, each with the duty that
// matched; ↑/↓ and Enter or the mouse pick one. The box is an ARIA 1.2 combobox with a listbox popup.

const SEARCH_DELAY_MS = 150; // one request per pause in typing, not one per key
const unitSearch = { timer: 0, sequence: 0, items: [], active: -1 };

/** What matched, in the operator's words: the name, or the duty and its words (heard alike: by sound). */
function matchedDuty(item) {
  if (item.matched_by === "name") return `单位名称：${item.words.join("、")}`;
  const words = item.words.join("、");
  return item.matched_by === "sound" ? `职责：${item.duty}（读音相近：${words}）` : `职责：${item.duty}（${words}）`;
}

function showUnitSearch(items) {
  unitSearch.items = items;
  unitSearch.active = -1;
  const list = $("dept-other-list");
  fill(list, ...items.map((item, index) => el("li", {
    id: `dept-match-${index}`, role: "option", className: "dept-match", "aria-selected": "false",
    dataset: { department: item.department },
  },
  el("span", { className: "dept-name" }, item.department),
  el("span", { className: "dept-score" }, `匹配度 ${Math.round(item.score * 100)}%`),
  el("span", { className: "dept-duty" }, matchedDuty(item)))));
  list.hidden = !items.length;
  const input = $("dept-other-text");
  input.setAttribute("aria-expanded", items.length ? "true" : "false");
  input.removeAttribute("aria-activedescendant");
  const typed = input.value.trim();
  $("dept-other-status").textContent = !typed ? "" : items.length ? `找到 ${items.length} 个单位` : "职责清单中没有匹配的单位";
}

function hideUnitSearch() {
  clearTimeout(unitSearch.timer);
  unitSearch.sequence += 1; // a request still on its way is no longer wanted
  showUnitSearch([]);
}

async function searchUnits(query) {
  const sequence = ++unitSearch.sequence;
  try {
    const found = await api("/v1/reference/departments", { query: { q: query, limit: 8 } });
    const current = sequence === unitSearch.sequence && document.activeElement === $("dept-other-text");
    if (current) showUnitSearch(found.items);
  } catch {
    // the box still takes a typed name; the list just stays closed
    if (sequence === unitSearch.sequence) showUnitSearch([]);
  }
}

function activateUnit(index) {
  const options = $("dept-other-list").querySelectorAll("[role=option]");
  if (!options.length) return;
  unitSearch.active = (index + options.length) % options.length;
  options.forEach((option, number) => option.setAttribute("aria-selected", String(number === unitSearch.active)));
  options[unitSearch.active].scrollIntoView({ block: "nearest" });
  $("dept-other-text").setAttribute("aria-activedescendant", options[unitSearch.active].id);
}

function pickUnit(index) {
  const item = unitSearch.items[index];
  if (!item) return;
  $("dept-other-text").value = item.department;
  $("dept-other").checked = true;
  state.departmentTouched = true;
  hideUnitSearch();
  checkOtherDepartment();
  updateDirty();
}

$("dept-other-text").addEventListener("input", (event) => {
  $("dept-other").checked = true;
  const warning = $("dept-other-warning");
  warning.hidden = true;
  event.target.setAttribute("aria-invalid", "false");
  clearTimeout(unitSearch.timer);
  const query = event.target.value.trim().slice(0, 64);
  if (query) unitSearch.timer = setTimeout(() => searchUnits(query), SEARCH_DELAY_MS);
  else hideUnitSearch();
  updateDirty();
});
$("dept-other-text").addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const open = !$("dept-other-list").hidden;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    if (!open) return;
    event.preventDefault();
    activateUnit(unitSearch.active + (event.key === "ArrowDown" ? 1 : -1));
  } else if (event.key === "Enter" && open && unitSearch.active >= 0) {
    event.preventDefault();
    pickUnit(unitSearch.active);
  } else if (event.key === "Escape" && open) {
    event.preventDefault();
    hideUnitSearch();
  }
});
$("dept-other-text").addEventListener("blur", () => {
  hideUnitSearch();
  checkOtherDepartment();
});
// the mouse picks without taking the focus from the box first (a blur would close the list under it)
$("dept-other-list").addEventListener("mousedown", (event) => event.preventDefault());
$("dept-other-list").addEventListener("click", (event) => {
  const option = event.target instanceof Element ? event.target.closest("[role=option]") : null;
  if (option) pickUnit(Number(option.id.slice("dept-match-".length)));
});

function renderKnowledge(answers) {
  $("kb").hidden = !answers.length;
  fill($("kb-list"), ...answers.map((answer) => el("details", { className: "kb-answer" },
    el("summary", {}, answer.title || answer.entry_id,
      answer.department ? el("span", { className: "kb-dept" }, ` · ${answer.department}`) : null),
    el("p", {}, answer.plain || answer.answer || ""),
    answer.plain && answer.answer && answer.plain !== answer.answer
      ? el("details", { className: "kb-original" }, el("summary", {}, "政策原文"), el("p", {}, answer.answer))
      : null)));
  const first = $("kb-list").querySelector("details");
  if (first) first.open = true;
}

function describeChange(name, change) {
  if (name === "related") return `相关工单：${change?.ticket_id || ""}`;
  const label = name === "department" ? "承办部门" : FIELD_LABELS[name] || name;
  if (change && typeof change === "object" && ("old" in change || "new" in change)) {
    return `${label}：${fieldText(change.old) || "（空）"} → ${fieldText(change.new) || "（空）"}`;
  }
  return `${label}：${fieldText(change)}`;
}

const TRAIL_ACTIONS = {
  accept: "确认受理", correct: "修改", link: "并单", dismiss: "忽略相关工单", unlink: "取消并单", undismiss: "取消忽略",
};

function renderTrail(changes) {
  if (!changes.length) {
    fill($("trail"), el("li", { className: "empty" }, "尚无修改，工单为机器预填。"));
    return;
  }
  fill($("trail"), ...changes.map((change) => {
    const action = TRAIL_ACTIONS[change.action] || change.action;
    const details = Object.entries(change.changes || {}).map(([name, value]) => describeChange(name, value));
    return el("li", {},
      el("span", { className: "trail-head" }, `${formatDateTime(change.at)} · ${change.actor} · ${action}`),
      details.length ? el("span", { className: "trail-details" }, details.join("；")) : null);
  }));
}

/** Fields the operator changed: name → new value (null when emptied). */
function changedFields() {
  const changed = {};
  for (const [name] of FIELDS) {
    const input = $(`f-${name}`);
    if (!input) continue;
    const value = input.value.trim();
    if (value !== input.dataset.original.trim()) changed[name] = value === "" ? null : value;
  }
  return changed;
}

function departmentChanged() {
  const department = chosenDepartment();
  return department !== null && department !== (state.ticket?.department ?? null);
}

function isDirty() {
  if (!state.ticket) return false;
  return Object.keys(changedFields()).length > 0 || departmentChanged();
}

function updateDirty() {
  if (!state.ticket) return;
  const changed = changedFields();
  for (const [name] of FIELDS) {
    const box = document.querySelector(`.field[data-field="${name}"]`);
    if (box) {
      box.classList.toggle("field-edited", name in changed);
      box.querySelector(".edited").hidden = !(name in changed);
    }
  }
  const dirty = isDirty();
  $("dirty").hidden = !dirty;
  // "修改已保存" no longer holds once something is changed again.
  if (dirty && $("ticket-message").dataset.kind === "ok") say("ticket-message", "");
}

/** The template's required fields that are still empty, from what is in the form now. */
function updateMissing() {
  const form = state.ticket?.ticket?.form;
  const node = $("form-template");
  if (!form) {
    node.replaceChildren(el("span", {}, "工单模板：未匹配"));
    return;
  }
  const missing = (form.required || []).filter((name) => !$(`f-${name}`)?.value.trim());
  node.replaceChildren(
    el("span", {}, `工单模板：${form.name || form.form_id}`),
    missing.length
      ? el("span", { className: "missing" }, el("span", { "aria-hidden": "true" }, "⚠ "),
        `缺少：${missing.map((name) => FIELD_LABELS[name] || name).join("、")}`)
      : el("span", { className: "complete" }, "✓ 必填项已齐"));
}

async function submitTicket(accept) {
  if (!state.ticket || state.busy) return;
  if (state.live) {
    say("ticket-message", "通话中：挂机后工单定稿，再保存或受理", "info");
    return;
  }
  const checked = document.querySelector("input[name=department]:checked");
  if (checked?.value === "__other__" && !$("dept-other-text").value.trim()) {
    say("ticket-message", "请填写其他承办单位的名称", "error");
    $("dept-other-text").focus();
    return;
  }
  const body = { fields: changedFields(), accept };
  if (departmentChanged()) body.department = chosenDepartment();
  if (!accept && !Object.keys(body.fields).length && !body.department) {
    say("ticket-message", "没有需要保存的修改", "info");
    return;
  }
  state.busy = true;
  $("save").disabled = true;
  $("accept").disabled = true;
  say("ticket-message", accept ? "正在受理…" : "正在保存…", "info");
  try {
    const callId = state.selected;
    const formerIndex = state.calls.findIndex((call) => call.call_id === callId);
    const out = await api(`/v1/calls/${encodeURIComponent(callId)}/ticket`, { method: "PATCH", body });
    if (callId !== state.selected) return;
    renderTicket(out);
    say("ticket-message", accept ? "已确认受理" : "修改已保存", "ok");
    if (!accept) {
      refreshQueue();
      return;
    }
    await refreshQueue(); // the queue as it is now: another operator may have taken a call meanwhile
    if (callId !== state.selected) return;
    const next = nextPendingCall(callId, formerIndex);
    if (next) openAfterAccept(callId, next.call_id);
    else say("ticket-message", "已确认受理；队列中没有其他待受理的来电", "ok");
  } catch (error) {
    say("ticket-message", `${accept ? "受理" : "保存"}失败：${error.message}`, "error");
  } finally {
    state.busy = false;
    $("save").disabled = false;
    $("accept").disabled = false;
  }
}

/** After 确认受理, the call to work next: the first call after the accepted one in the queue's order (then from the
 * top) that is transcribed and still 待受理. The accepted call may have left the list (a 待受理 filter): then the
 * one that took its place comes first. */
function nextPendingCall(acceptedId, formerIndex) {
  const found = state.calls.findIndex((call) => call.call_id === acceptedId);
  const start = found >= 0 ? found + 1 : Math.max(formerIndex, 0);
  const order = [...state.calls.slice(start), ...state.calls.slice(0, start)];
  return order.find((call) => call.call_id !== acceptedId && call.status === "done" && call.ticket_state === "pending");
}

/** Opens the next call after an accept, saying so above the ticket with a way back to the accepted one. */
async function openAfterAccept(acceptedId, nextId) {
  await selectCall(nextId);
  if (state.selected !== nextId) return;
  const back = el("button", { type: "button", className: "link-btn", id: "advance-back" }, `返回 ${acceptedId}`);
  back.addEventListener("click", () => selectCall(acceptedId));
  fill($("advance-notice"), el("span", {}, `✓ ${acceptedId} 已受理，已转到下一通待受理来电 ${nextId}。`), back);
  $("advance-notice").hidden = false;
  // the accepted ticket's controls are gone: the keyboard goes on from the top of the new one (Alt+N: its first ⚠)
  $("ticket-pane").focus({ preventScroll: true });
}

function hideAdvanceNotice() {
  $("advance-notice").hidden = true;
  $("advance-notice").replaceChildren();
}

$("ticket-form").addEventListener("submit", (event) => event.preventDefault());
$("save").addEventListener("click", () => submitTicket(false));
$("accept").addEventListener("click", () => submitTicket(true));

// ---- a call in progress (live.js) ---------------------------------------------------------------

/** A live call: its turns and ticket grow as they come; at hang-up its final ticket is the one to review. */
function followLive(callId, token) {
  showNoTicket("通话中：市民每说完一句，转写和工单随之更新。");
  player.load(callId, { turns: [] }, false);
  setLiveStatus("实时转写中…");
  const feed = new LiveFeed(callId, {
    turn: () => {
      player.load(callId, feed.transcript(), false);
      $("transcript-box").scrollTop = $("transcript-box").scrollHeight;
    },
    ticket: (ticket) => mergeTicket({
      call_id: callId,
      ticket,
      department: ticket.department ?? ticket.department_suggestions?.[0]?.department ?? null,
      state: "pending",
      changes: [],
    }),
    final: (data) => finishLive(callId, token, data),
    refined: (data) => refineLive(callId, token, data),
    connection: (how) => {
      if (how === "closed") state.live = null; // refused (logged out, call gone): the queue's refresh takes over
      setLiveStatus({ open: "实时转写中…", retrying: "连接中断，正在重连…", closed: "实时连接已断开" }[how]);
    },
  });
  state.live = feed;
}

function stopLive() {
  state.live?.close();
  state.refining?.close();
  state.live = null;
  state.refining = null;
  setLiveStatus("");
}

function setLiveStatus(message) {
  say("live-status", message, "info");
}

/** The hang-up: the call's stored transcript (with its recording) and final ticket, merged like a live one. */
async function finishLive(callId, token, data) {
  state.refining = data.refining ? state.live : null;
  state.live = null;
  if (token !== state.loadToken) return;
  const ended = data.partial ? "通话已结束（通话中断，内容可能不全），请核对工单" : "通话已结束，请核对工单";
  setLiveStatus(data.refining ? `${ended}；整通录音复核中…` : ended);
  try {
    const call = await api(`/v1/calls/${encodeURIComponent(callId)}`);
    if (token !== state.loadToken) return;
    state.call = call;
    renderCallMeta(call);
    if (call.status !== "done") {
      if (!isDirty()) showNoTicket(`处理失败：${call.error?.message || call.error?.kind || "未知原因"}`);
      return;
    }
    const [transcript, ticket] = await transcriptAndTicket(callId);
    if (token !== state.loadToken) return;
    player.load(callId, transcript, call.audio_available);
    mergeTicket(ticket);
  } catch (error) {
    if (token === state.loadToken) say("ticket-error", `无法载入定稿工单：${error.message}`, "error");
  }
}

/**
 * The full-call pass is done: its transcript and ticket, merged by the same rule as a live ticket (a field the operator
 * is in or has changed keeps its text; the machine's value is offered beside it). Fields the operator had saved stay
 * saved on the server (`kept`).
 */
async function refineLive(callId, token, data) {
  state.refining = null;
  if (token !== state.loadToken || !data.refined) {
    if (token === state.loadToken) setLiveStatus("通话已结束，请核对工单");
    return;
  }
  try {
    const [transcript, ticket] = await transcriptAndTicket(callId);
    if (token !== state.loadToken) return;
    player.load(callId, transcript, state.call?.audio_available ?? true);
    mergeTicket(ticket);
    setLiveStatus(data.kept?.length ? "整通复核已完成；您改过的字段保持不变" : "整通复核已完成，工单已更新");
  } catch (error) {
    if (token === state.loadToken) say("ticket-error", `无法载入复核后的工单：${error.message}`, "error");
  }
}

/**
 * A newer ticket for the open call. A field the operator is in, or has changed, keeps its text; the machine's value
 * is offered beside it (live.js). The rest take the new values; the chosen unit moves only if the operator has
 * not picked one.
 */
function mergeTicket(out) {
  if (!state.ticket) {
    renderTicket(out);
    return;
  }
  state.ticket = out;
  state.evidenceStep = {};
  const ticket = out.ticket || {};
  for (const spec of FIELDS) {
    const old = $(`f-${spec[0]}`);
    const row = fieldRow(spec, ticket);
    const input = row.querySelector(`#f-${spec[0]}`);
    const machine = input.value;
    const label = input.tagName === "SELECT" ? input.selectedOptions[0]?.textContent : machine;
    if (old === document.activeElement) {
      offerMachineValue(old.closest(".field"), old, machine, label);
      continue;
    }
    if (old.value.trim() !== old.dataset.original.trim()) {
      input.value = old.value;
      offerMachineValue(row, input, machine, label);
    }
    old.closest(".field").replaceWith(row);
  }
  if (!$("departments").contains(document.activeElement)) {
    renderDepartments(ticket, state.departmentTouched ? chosenDepartment() : out.department);
  }
  renderTicketRest(out);
}

// ---- keyboard ------------------------------------------------------------------------------------

/** The controls that need checking, in the page's order: each field marked ⚠ 待核对, then the chosen department
 * when a review reason names it. */
function flaggedControls() {
  const controls = [...$("fields").querySelectorAll(".field.field-low")].map((box) => $(`f-${box.dataset.field}`));
  if (reasonsByField(state.ticket?.ticket || {}).has("department")) {
    controls.push(document.querySelector("input[name=department]:checked") || $("dept-other"));
  }
  return controls.filter(Boolean);
}

/** Moves the focus to the next (step 1) or previous (step -1) control that needs checking, from where the focus is
 * (round to the other end), its text selected so that typing replaces it. */
function jumpToFlagged(step) {
  if (!state.ticket) return;
  const controls = flaggedControls();
  if (!controls.length) {
    say("ticket-message", "没有待核对的字段", "info");
    return;
  }
  const focus = document.activeElement || document.body;
  const after = (control) => Boolean(focus.compareDocumentPosition(control) & Node.DOCUMENT_POSITION_FOLLOWING);
  let index = controls.indexOf(focus);
  if (index >= 0) index = (index + step + controls.length) % controls.length;
  else if (step > 0) index = Math.max(controls.findIndex(after), 0);
  else index = controls.findLastIndex((control) => !after(control) && control !== focus);
  const control = controls[index < 0 ? controls.length - 1 : index];
  control.focus();
  control.scrollIntoView({ block: "nearest" });
  if (control.matches("input[type=text], textarea")) control.select();
}

/** Alt+P: plays the evidence of the field the focus is in (its ▶ 出处), the focus staying in the field. */
function playFocusedEvidence() {
  const name = document.activeElement?.closest(".field")?.dataset.field;
  if (name) $(`ev-${name}`)?.click();
}

document.addEventListener("keydown", (event) => {
  // a key that composes Chinese text in an input method is the IME's, not a shortcut
  if (event.isComposing || event.keyCode === 229) return;
  const ctrl = event.ctrlKey || event.metaKey;
  if (event.altKey && !ctrl && event.code === "KeyN") {
    event.preventDefault();
    jumpToFlagged(event.shiftKey ? -1 : 1);
  } else if (event.altKey && !ctrl && !event.shiftKey && event.code === "KeyP") {
    event.preventDefault();
    playFocusedEvidence();
  } else if (event.altKey && !ctrl && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    event.preventDefault();
    moveSelection(event.key === "ArrowDown" ? 1 : -1);
  } else if (event.altKey && !ctrl && /^Digit[1-5]$/.test(event.code)) {
    event.preventDefault();
    pickDepartment(Number(event.code.slice(5)) - 1);
  } else if (ctrl && event.key === "Enter") {
    event.preventDefault();
    submitTicket(true);
  } else if (ctrl && !event.altKey && event.key.toLowerCase() === "s") {
    event.preventDefault();
    submitTicket(false);
  } else if (event.key === " " && !ctrl && !event.altKey && !isTyping(event.target)) {
    // Space on a transcript turn plays/pauses too (Enter still jumps to it); other buttons keep Space.
    const target = event.target instanceof Element ? event.target : null;
    if (target?.closest("audio, a, summary") || (target?.closest("button") && !target.closest(".turn-head"))) return;
    event.preventDefault();
    player.togglePlay();
  }
});

window.addEventListener("beforeunload", (event) => {
  if (isDirty()) event.preventDefault();
});

// ---- reference lists -----------------------------------------------------------------------------

/**
 * The reference lists (loaded once; after a failure, tried again with the next call opened). The ticket
 * still opens without them: the selects then offer the known labels and the unit box has no pick list.
 */
async function reference() {
  if (state.reference) return state.reference;
  try {
    state.reference = await loadReference();
    renderCatalogue();
    say("reference-error", "");
  } catch (error) {
    say("reference-error", `选项清单加载失败（${error.message}），部门清单和下拉选项可能不全`, "error");
  }
  return state.reference;
}

// ---- start ---------------------------------------------------------------------------------------

const user = await requireRole("operator");
mountHeader(user);
const savedFilters = restoreFilters();
// An operator's key names their agent id (工号): the queue opens on their own calls, unless this browser
// was last set otherwise.
if (user.agent_id && !("agent_id" in savedFilters)) filterForm.elements.namedItem("agent_id").value = user.agent_id;
await Promise.all([refreshQueue(), reference()]);
/** The call the address names (#call=…), or null. */
function callInHash() {
  return new URLSearchParams(location.hash.slice(1)).get("call");
}

const fromHash = callInHash();
if (fromHash) selectCall(fromHash);
// a #call= typed or pasted into the address bar of the open page opens that call
window.addEventListener("hashchange", () => {
  const callId = callInHash();
  if (callId && callId !== state.selected) selectCall(callId);
});

// 相关工单: earlier tickets this call may repeat (GET /v1/calls/{id}/related: same caller, place or matter, with
// reasons). 并单 links the call to one (one matter, one dispatch: the call takes that ticket's unit); 忽略 says it
// is another matter. Plain buttons: reachable with Tab, pressed with Enter or Space.
async function loadRelated(callId, token) {
  $("related").hidden = true;
  let items;
  try {
    items = await api(`/v1/calls/${encodeURIComponent(callId)}/related`);
  } catch (error) {
    if (token !== state.loadToken) return;
    $("related").hidden = false;
    fill($("related-list"));
    say("related-message", `无法查询相关工单：${error.message}`, "error");
    return;
  }
  if (token !== state.loadToken) return;
  renderRelated(callId, items);
}

function renderRelated(callId, items) {
  $("related").hidden = !items.length;
  fill($("related-list"), ...items.map((item) => {
    const linked = item.decision === "link";
    const dismissed = item.decision === "dismiss";
    const name = `工单 ${item.ticket_id}`;
    const decide = (action) => el("button", {
      type: "button", className: "btn", text: action === "link" ? "并单" : "忽略",
      "aria-label": `${action === "link" ? "并单" : "忽略"}：${name}`,
      onclick: () => decideRelated(callId, item, action),
    });
    const undo = el("button", {
      type: "button", className: "btn", text: linked ? "取消并单" : "取消忽略",
      "aria-label": `${linked ? "取消并单" : "取消忽略"}：${name}`,
      onclick: () => decideRelated(callId, item, null),
    });
    return el("li", { dataset: { ticket: item.ticket_id, decision: item.decision || "" } },
      el("span", { className: "related-head" },
        `${name} · ${formatDateTime(item.created_at)}${item.department ? ` · ${item.department}` : ""}`
        + (linked ? " · 已并单" : dismissed ? " · 已忽略" : "")),
      el("span", { className: "related-reasons" }, item.reasons.join("，")),
      el("span", { className: "related-text" }, item.text.length > 120 ? `${item.text.slice(0, 120)}…` : item.text),
      item.decision ? undo : [decide("link"), decide("dismiss")]);
  }));
}

async function decideRelated(callId, item, action) {
  const path = `/v1/calls/${encodeURIComponent(callId)}/links`;
  try {
    if (action) await api(path, { method: "POST", body: { ticket_id: item.ticket_id, source: item.source, action } });
    else await api(`${path}/${encodeURIComponent(item.ticket_id)}`, { method: "DELETE", query: { source: item.source } });
  } catch (error) {
    say("related-message", `操作失败：${error.message}`, "error");
    return;
  }
  if (callId !== state.selected) return;
  const done = { link: "已并单", dismiss: "已忽略" }[action] || "已撤销";
  say("related-message", `${done}：工单 ${item.ticket_id}`);
  const token = state.loadToken;
  const [items, ticket] = await Promise.all([
    api(`/v1/calls/${encodeURIComponent(callId)}/related`),
    // a link may give the call the linked ticket's unit: show it, unless the operator has edits of their own
    isDirty() ? null : api(`/v1/calls/${encodeURIComponent(callId)}/ticket`),
  ]);
  if (token !== state.loadToken) return;
  if (ticket) renderTicket(ticket);
  renderRelated(callId, items);
  $("related-list").querySelector(`li[data-ticket="${CSS.escape(item.ticket_id)}"] button`)?.focus();
}
