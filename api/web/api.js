// Shared by every page: the fetch wrapper for /v1, the login check, the page header and a few helpers.
//
// The pages never see the API key: POST /v1/session turns it into an HttpOnly cookie and every later
// request rides on that cookie. Changing requests carry X-Hotline-UI: 1, which the API demands of
// cookie-authenticated writes (another site's form cannot add a custom header).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const LOGIN_PAGE = "index.html";

/** The login page, remembering where to come back to (only our own pages, never an arbitrary URL). */
export function goToLogin() {
  const here = location.pathname.split("/").pop();
  const next = here && here !== LOGIN_PAGE ? `?next=${encodeURIComponent(here)}` : "";
  location.replace(`${LOGIN_PAGE}${next}`);
}

/**
 * Calls the API. `query` values that are empty are left out; `body` is sent as JSON.
 * Resolves to the parsed JSON (null for 204); rejects with ApiError carrying the API's own message.
 * A 401 sends the user to the login page unless `allow401` is set (the login page itself).
 */
export async function api(path, { method = "GET", query, body, allow401 = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-Hotline-UI"] = "1";
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "network", "无法连接服务器，请检查网络后重试");
  }
  if (response.status === 401 && !allow401) {
    goToLogin();
    throw new ApiError(401, "unauthorized", "登录已失效，请重新登录");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && data.error;
    const message = error && error.message ? error.message : `请求失败（HTTP ${response.status}）`;
    throw new ApiError(response.status, error ? error.code : "http_error", message);
  }
  return data;
}

let referenceRequest = null;

/**
 * GET /v1/reference (the duty catalogue's departments and the closed fields' values), fetched once per
 * page and shared by every caller. A failed load is forgotten, so the next call tries again.
 */
export function loadReference() {
  if (!referenceRequest) {
    referenceRequest = api("/v1/reference").catch((error) => {
      referenceRequest = null;
      throw error;
    });
  }
  return referenceRequest;
}

/**
 * Options for a <select> over a closed vocabulary: the reference's values in its order, each with its
 * Chinese label (the raw value when the label map does not know it), plus `current` when the list lacks
 * it, so a stored value is never silently dropped.
 */
export function selectOptions(values, labels = {}, current = "") {
  const list = [...(values || [])];
  if (current && !list.includes(current)) list.push(current);
  return list.map((value) => el("option", { value }, labels[value] || value));
}

/** Who is logged in, or null. */
export async function currentUser() {
  try {
    return await api("/v1/session", { allow401: true });
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

export const ROLE_LABELS = { operator: "接线员", qa: "质检员", admin: "管理员" };
export const PAGES = { operator: "operator.html", qa: "qa.html" };
/** The hot-spot reports (一周热点, 月度报告): for QA and supervisors, who log in with the QA role. */
export const REPORTS_PAGE = "reports.html";
export const REPORT_ROLES = ["qa", "admin"];

/**
 * The page's guard: resolves to the user when their role may use this page; otherwise goes to the
 * login page (not logged in) or to the page their role is for.
 */
export async function requireRole(...roles) {
  const user = await currentUser();
  if (!user) {
    goToLogin();
    return new Promise(() => {});
  }
  if (!roles.includes(user.role) && user.role !== "admin") {
    location.replace(PAGES[user.role] || LOGIN_PAGE);
    return new Promise(() => {});
  }
  return user;
}

/** Fills the shared header: who is logged in, the pages their role may open, and 退出. */
export function mountHeader(user) {
  const slot = document.getElementById("session");
  if (!slot) return;
  slot.replaceChildren();
  if (!user) return;
  const nav = el("nav", { className: "app-nav", "aria-label": "页面" });
  const here = location.pathname.split("/").pop();
  const links = user.role === "admin" ? ["operator", "qa"] : [user.role];
  for (const role of links) {
    if (!PAGES[role]) continue;
    const link = el("a", { href: PAGES[role] }, role === "qa" ? "质检" : "接线员工作台");
    if (PAGES[role] === here) link.setAttribute("aria-current", "page");
    nav.append(link);
  }
  if (REPORT_ROLES.includes(user.role)) {
    const link = el("a", { href: REPORTS_PAGE }, "热点报告");
    if (REPORTS_PAGE === here) link.setAttribute("aria-current", "page");
    nav.append(link);
  }
  const logout = el("button", { type: "button", className: "btn btn-quiet", id: "logout" }, "退出");
  logout.addEventListener("click", async () => {
    try {
      await api("/v1/session", { method: "DELETE", allow401: true });
    } finally {
      location.replace(LOGIN_PAGE);
    }
  });
  slot.append(
    nav,
    el("span", { className: "who" }, el("span", { className: "visually-hidden" }, "当前用户："), user.name, " ",
      el("span", { className: "role-tag" }, ROLE_LABELS[user.role] || user.role)),
    logout,
  );
}

/**
 * A tiny DOM builder: el("a", {href: "x", className: "y"}, "text", child). Text is always set as text,
 * never as HTML, so call data (transcripts, names) cannot inject markup.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "text") node.textContent = value;
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replaces a node's children, skipping the null/false ones (replaceChildren would print "null"). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

/** Shows a message in a live region (role=status or alert in the HTML), or clears it. */
export function say(target, message, kind = "info") {
  const node = typeof target === "string" ? document.getElementById(target) : target;
  if (!node) return;
  node.textContent = message || "";
  node.dataset.kind = kind;
  node.hidden = !message;
}

export const STATUS_LABELS = { live: "通话中", queued: "排队中", processing: "处理中", done: "已完成", failed: "失败" };
export const REVIEW_LABELS = { auto: "自动", check: "核对", manual: "人工" };
export const TICKET_STATE_LABELS = { pending: "待受理", accepted: "已受理" };
export const ROLE_NAMES = { agent: "接线员", caller: "市民" };

/** A badge for the review level: the word itself carries the meaning, the colour only repeats it. */
export function reviewBadge(review) {
  if (!review) return el("span", { className: "badge" }, "—");
  return el("span", { className: `badge badge-${review}`, title: `审核级别：${REVIEW_LABELS[review] || review}` },
    REVIEW_LABELS[review] || review);
}

const pad = (n) => String(n).padStart(2, "0");

/** "09:15" today, "11-29 09:15" on another day of this year, else with the year. */
export function formatWhen(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const now = new Date();
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  if (date.toDateString() === now.toDateString()) return time;
  const day = `${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return date.getFullYear() === now.getFullYear() ? `${day} ${time}` : `${date.getFullYear()}-${day} ${time}`;
}

/** Full local date and time, for change trails and audit lists. */
/**
 * One call in a list (the operator's queue, QA's results): time, masked number and review level, then the
 * status and the page's own `details`; `more` lines below. Clicking it calls `onSelect(call_id)`.
 */
export function callListItem(call, selected, onSelect, details = [], ...more) {
  const button = el("button", {
    type: "button",
    className: "queue-item",
    dataset: { callId: call.call_id },
    "aria-current": call.call_id === selected ? "true" : null,
  },
  el("span", { className: "q-line" },
    el("span", { className: "q-time" }, formatWhen(call.started_at || call.created_at)),
    el("span", { className: "q-number" }, call.caller_number_masked || "未知号码"),
    reviewBadge(call.review)),
  el("span", { className: "q-line q-sub" },
    el("span", { className: `q-status status-${call.status}` }, STATUS_LABELS[call.status] || call.status),
    ...details),
  ...more);
  button.addEventListener("click", () => onSelect(call.call_id));
  return el("li", {}, button);
}

/** The facts both pages show above a call: masked caller number, agent, time, length. */
export function callFacts(call) {
  return [
    el("span", {}, `来电 ${call.caller_number_masked || "未知号码"}`),
    el("span", {}, `工号 ${call.agent_id || "—"}`),
    el("span", {}, formatDateTime(call.started_at || call.created_at)),
    el("span", {}, `时长 ${formatSeconds(call.audio_duration_s)}`),
  ];
}

export function formatDateTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Seconds as m:ss. */
export function formatSeconds(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "—";
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${pad(whole % 60)}`;
}

/** True when a key press is meant for the focused control (typing, choosing), not for a page shortcut. */
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
}
