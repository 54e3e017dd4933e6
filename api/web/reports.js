// 热点报告: the stored weekly briefs and monthly reports (GET /v1/reports), one shown in a sandboxed frame,
// each with an HTML export link; a report made now for any period (POST /v1/reports). QA and administrators.

import { api, el, fill, mountHeader, requireRole, say } from "./api.js";

const $ = (id) => document.getElementById(id);
const KIND_LABELS = { weekly: "一周热点", monthly: "月度分析报告" };

const isoDay = (day) =>
  `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, "0")}-${String(day.getDate()).padStart(2, "0")}`;

/** The default period of a kind: last week (Monday to Sunday) or last month. */
function defaultPeriod(kind) {
  const today = new Date();
  if (kind === "monthly") {
    const first = new Date(today.getFullYear(), today.getMonth() - 1, 1);
    const last = new Date(today.getFullYear(), today.getMonth(), 0);
    return [isoDay(first), isoDay(last)];
  }
  const monday = new Date(today);
  monday.setDate(today.getDate() - ((today.getDay() + 6) % 7) - 7);
  const sunday = new Date(monday);
  sunday.setDate(monday.getDate() + 6);
  return [isoDay(monday), isoDay(sunday)];
}

function setDefaultPeriod() {
  const [start, last] = defaultPeriod($("r-kind").value);
  $("r-start").value = start;
  $("r-last").value = last;
}

const period = (report) => `${report.start} 至 ${report.last_day}`;

/** Shows one report in the frame and marks its row. */
function show(report) {
  const frame = $("report-frame");
  frame.src = report.url;
  frame.hidden = false;
  $("view-title").textContent = KIND_LABELS[report.kind] || report.kind;
  fill($("view-meta"), period(report), " · ", el("a", { href: `${report.url}?download=1`, download: report.name }, "导出 HTML"));
  for (const row of document.querySelectorAll("#reports-body tr")) {
    row.setAttribute("aria-current", String(row.dataset.name === report.name));
  }
}

function row(report) {
  const view = el("button", { type: "button", className: "btn btn-quiet" }, "查看");
  view.addEventListener("click", () => show(report));
  const download = el("a", { href: `${report.url}?download=1`, download: report.name }, "导出 HTML");
  return el(
    "tr",
    { dataset: { name: report.name } },
    el("td", {}, KIND_LABELS[report.kind] || report.kind),
    el("td", {}, period(report)),
    el("td", {}, el("span", { className: "report-links" }, view, download)),
  );
}

async function loadList(selected) {
  const reports = await api("/v1/reports");
  $("reports-table").hidden = reports.length === 0;
  fill($("reports-body"), reports.map(row));
  $("list-meta").textContent = reports.length ? `共 ${reports.length} 份` : "还没有报告。";
  const current = reports.find((report) => report.name === selected) || reports[0];
  if (current) show(current);
}

$("r-kind").addEventListener("change", setDefaultPeriod);

$("make-report").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { kind: $("r-kind").value, start: $("r-start").value, last_day: $("r-last").value };
  if (!body.start || !body.last_day) {
    say("make-message", "请填写起始和截止日期", "error");
    return;
  }
  const button = $("make-button");
  button.disabled = true;
  say("make-message", "正在生成…");
  try {
    const made = await api("/v1/reports", { method: "POST", body });
    say("make-message", `已生成：${KIND_LABELS[made.kind]} ${period(made)}`, "ok");
    await loadList(made.name);
  } catch (error) {
    say("make-message", `生成失败：${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
});

const user = await requireRole("qa");
mountHeader(user);
setDefaultPeriod();
await loadList();
