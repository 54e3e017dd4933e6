// The login page: the key goes to POST /v1/session once (which sets the HttpOnly cookie) and is then
// cleared from the field; nothing of it is kept by the page.

import { PAGES, REPORTS_PAGE, REPORT_ROLES, ROLE_LABELS, api, currentUser, el, mountHeader, say } from "./api.js";

const form = document.getElementById("login-form");
const keyInput = document.getElementById("key");
const button = document.getElementById("login-button");

/** Where `?next=` asks to go, when that page exists and the role may open it. */
function requestedPage(role) {
  const next = new URLSearchParams(location.search).get("next");
  const allowed = role === "admin" ? Object.values(PAGES) : [PAGES[role]];
  if (REPORT_ROLES.includes(role)) allowed.push(REPORTS_PAGE);
  return allowed.includes(next) ? next : null;
}

/** Logged in: links to the pages this role may open (an administrator chooses one). */
function showSignedIn(user) {
  mountHeader(user);
  const panel = document.getElementById("signed-in");
  document.getElementById("signed-in-text").textContent =
    `已登录：${user.name}（${ROLE_LABELS[user.role] || user.role}）。可以进入：`;
  const links = [];
  if (user.role === "operator" || user.role === "admin") {
    links.push(el("a", { className: "btn btn-primary", href: PAGES.operator }, "接线员工作台"));
  }
  if (user.role === "qa" || user.role === "admin") {
    links.push(el("a", { className: "btn btn-primary", href: PAGES.qa }, "质检"));
  }
  if (REPORT_ROLES.includes(user.role)) {
    links.push(el("a", { className: "btn btn-primary", href: REPORTS_PAGE }, "热点报告"));
  }
  document.getElementById("choose-page").replaceChildren(...links);
  panel.hidden = false;
  document.getElementById("login-title").textContent = "切换账号或进入页面";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    say("login-error", "请输入访问密钥", "error");
    keyInput.focus();
    return;
  }
  button.disabled = true;
  say("login-error", "");
  try {
    const user = await api("/v1/session", { method: "POST", body: { key }, allow401: true });
    keyInput.value = "";
    const target = requestedPage(user.role) || (user.role === "admin" ? null : PAGES[user.role]);
    if (target) {
      location.replace(target);
      return;
    }
    showSignedIn(user);
    document.querySelector("#choose-page a").focus();
  } catch (error) {
    keyInput.value = "";
    const message = error.status === 401
      ? "密钥无效，或该密钥无权使用接线员和质检页面。"
      : `登录失败：${error.message}`;
    say("login-error", message, "error");
    keyInput.focus();
  } finally {
    button.disabled = false;
  }
});

const user = await currentUser().catch(() => null);
if (user) showSignedIn(user);
else keyInput.focus();
