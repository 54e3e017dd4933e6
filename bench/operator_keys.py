"""An operator clearing the demo call's flagged fields by keyboard only, counted in key presses, on the operator page
before and after the keyboard path of issue 14 (▶ 出处 out of the Tab order, Alt+N to the next ⚠ field, the next
pending call opened after 确认受理).

Everything real: `hotline serve` on a free port with a temporary data folder (SQLite, jobs in the API process),
the demo call pushed three times and recognised each time, Debian's Chromium driven by Playwright. The page
"before" is `api/web/` as it was at `--old-rev` (read with `git show`, served in place of the files the server
sends: same URLs, same headers); "after" is the working tree's.

One walk: the ticket open with the focus in 姓名 (where the issue counted its 30 Tab stops from); for each field
marked ⚠ 待核对, in the page's order: move to it, select what is there, type the correction; then accept and get
to the next call still to be accepted, its ticket on screen. How each page gets there by keyboard:

- before: Tab to the field (the ▶ 出处 buttons are Tab stops), Ctrl+A where Tab left the text unselected,
  ↓/↑ in a list; Ctrl+Enter; Alt+↓ until the selected call is a pending one;
- after: Alt+N to the field (its text comes selected), the same typing; Ctrl+Enter, and the page opens the next
  pending call itself.

The characters of the corrections are the same on both pages (an operator's input method turns them into more
key presses, the same number on both); they are counted apart, and the goal (half) is on the keys the page asks
for. The worked ticket is read back through the API: accepted, each correction saved.

    .venv/bin/python bench/operator_keys.py [--old-rev ca51c42] [--json bench/results/operator_keys.json]
"""

import argparse
import json
import mimetypes
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "samples" / "demo-call.wav"
HOTLINE = Path(sys.executable).with_name("hotline")
MODEL_CACHE = Path.home() / ".local" / "share" / "hotline-intake" / "models"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
# the commit this work started from: the page with 30 Tab stops from 姓名 to 确认受理
OLD_REV = "ca51c42"
AGENT = "A1024"
META = {"caller_number": "13800007731", "agent_id": AGENT, "channel_map": json.dumps({"0": "agent", "1": "caller"})}
# pushed in this order, so the queue (newest first) lists them 3, 2, 1: each walk has a pending call after it
CALLS = ("bench-keys-1", "bench-keys-2", "bench-keys-3")
WALKS = (("before", "bench-keys-3"), ("after", "bench-keys-2"))
# what the operator types into each field the demo ticket may flag (a select takes one of its values)
CORRECTIONS = {
    "caller_name": "王建国",
    "phone": "13900005286",
    "address": "海南省海口市龙华区龙昆南路椰林花园小区3栋2单元",
    "district": "龙华区",
    "street": "海垦街道",
    "address_detail": "龙昆南路椰林花园小区3栋2单元",
    "event_time": "2026年11月30日",
    "category": "城乡建设",
    "urgency": "normal",
    "emotion": "anxious",
    "summary": "市民来电反映：龙华区龙昆南路椰林花园小区3栋2单元楼下工地夜间施工噪音扰民，请相关部门处理。",
}
TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_key(env: dict[str, str], *options: str) -> str:
    printed = subprocess.run(
        [str(HOTLINE), "keys", "create", *options], env=env, capture_output=True, text=True, check=True
    )
    return printed.stdout.strip().splitlines()[-1]


@contextmanager
def service(workdir: Path):
    """`hotline serve` on a data folder of its own, jobs in-process; yields (base url, telephony key, operator key)."""
    data_dir = workdir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env |= {
        "HOTLINE_DATA_DIR": str(data_dir),
        "HOTLINE_DATABASE_URL": f"sqlite:///{workdir / 'hotline.db'}",
        "HOTLINE_MODEL_CACHE_DIR": str(MODEL_CACHE),
        # this checkout's code and pages, whichever checkout the virtualenv was installed from
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    telephony = new_key(env, "--role", "telephony")
    operator = new_key(env, "--role", "operator", "--name", "bench-op", "--agent-id", AGENT)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (workdir / "serve.log").open("ab") as log:
        child = subprocess.Popen(
            [str(HOTLINE), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start: {(workdir / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, telephony, operator
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


def push_demo_calls(base: str, telephony: str) -> None:
    """The demo call under each id, one after the other (each recognised for real), until all are done."""
    headers = {"Authorization": f"Bearer {telephony}"}
    audio = DEMO.read_bytes()
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for call_id in CALLS:
            response = client.post(
                "/v1/calls", data={"call_id": call_id, **META}, files={"recording": ("call.wav", audio, "audio/wav")}
            )
            response.raise_for_status()
            deadline = time.monotonic() + 900
            while (status := client.get(f"/v1/calls/{call_id}").json()["status"]) not in ("done", "failed"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{call_id} still {status}")
                time.sleep(0.5)
            if status != "done":
                raise RuntimeError(f"{call_id} {status}")


def old_web_files(rev: str) -> dict[str, bytes]:
    """api/web/* at `rev`, by file name."""
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{rev}:api/web"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {
        name: subprocess.run(["git", "show", f"{rev}:api/web/{name}"], cwd=ROOT, capture_output=True, check=True).stdout
        for name in names
    }


class Keys:
    """The page's keyboard, counting each press (a chord is one press) by what it was for."""

    def __init__(self, tab):
        self.tab = tab
        self.counts: dict[str, int] = {}
        self.typed = 0

    def press(self, key: str, purpose: str) -> None:
        self.tab.keyboard.press(key)
        self.counts[purpose] = self.counts.get(purpose, 0) + 1

    def type(self, text: str) -> None:
        """Text as an input method commits it: one character each, counted apart from the page's keys."""
        self.tab.keyboard.insert_text(text)
        self.typed += len(text)

    @property
    def pressed(self) -> int:
        return sum(self.counts.values())


def focused(tab) -> str:
    return tab.evaluate("document.activeElement ? document.activeElement.id : ''")


def selected_call(tab) -> str:
    return tab.evaluate("new URLSearchParams(location.hash.slice(1)).get('call') || ''")


def ticket_open(tab, call_id: str) -> None:
    tab.wait_for_function(
        """id => new URLSearchParams(location.hash.slice(1)).get('call') === id
             && !document.getElementById('ticket-form').hidden
             && document.getElementById('call-title').textContent.includes(id)""",
        arg=call_id,
    )


def correct(tab, keys: Keys, name: str, value: str) -> None:
    """Replaces the focused field's value by keyboard."""
    control = tab.locator(f"#f-{name}")
    if control.evaluate("e => e.tagName") == "SELECT":
        options = control.evaluate("e => [...e.options].map(o => o.value)")
        step = options.index(value) - options.index(control.input_value())
        for _ in range(abs(step)):
            keys.press("ArrowDown" if step > 0 else "ArrowUp", "choose in a list (↑/↓)")
        return
    whole = control.evaluate("e => e.selectionStart === 0 && e.selectionEnd === e.value.length")
    if not whole and control.input_value():
        keys.press("Control+a", "select the old text (Ctrl+A)")
    keys.type(value)


def walk(tab, base: str, operator: str, call_id: str) -> dict:
    """One walk on the open page (see the module's docstring); returns its counts."""
    tab.goto(f"{base}/ui/")
    tab.get_by_label("访问密钥").fill(operator)
    tab.get_by_role("button", name="登录", exact=True).click()
    tab.wait_for_url("**/ui/operator.html**")
    tab.goto(f"{base}/ui/operator.html#call={call_id}")
    ticket_open(tab, call_id)
    flagged = tab.locator(".field.field-low").evaluate_all("boxes => boxes.map(box => box.dataset.field)")
    missing = [name for name in flagged if name not in CORRECTIONS]
    if missing:
        raise RuntimeError(f"no correction written for {missing}")
    tab.locator("#f-caller_name").focus()
    has_flag_key = tab.locator("#advance-notice").count() > 0  # the page after: Alt+N, next call on accept

    keys = Keys(tab)
    started = time.perf_counter()
    for name in flagged:
        for _ in range(60):
            if focused(tab) == f"f-{name}":
                break
            if has_flag_key:
                keys.press("Alt+n", "to the next flagged field (Tab / Alt+N)")
            else:
                keys.press("Tab", "to the next flagged field (Tab / Alt+N)")
        else:
            raise RuntimeError(f"the keyboard did not reach {name}")
        correct(tab, keys, name, CORRECTIONS[name])
    with tab.expect_response(lambda response: response.request.method == "PATCH"):
        keys.press("Control+Enter", "accept (Ctrl+Enter)")
    if has_flag_key:
        tab.locator("#advance-notice").wait_for(state="visible")
    else:
        tab.wait_for_function("document.getElementById('ticket-message').textContent.includes('已确认受理')")
    for _ in range(len(CALLS) + 1):
        current = selected_call(tab)
        row = tab.locator(f'.queue-item[data-call-id="{current}"]')
        if current != call_id and "待受理" in row.inner_text():
            ticket_open(tab, current)
            break
        keys.press("Alt+ArrowDown", "to the next pending call (Alt+↓)")
        tab.wait_for_function("id => new URLSearchParams(location.hash.slice(1)).get('call') !== id", arg=current)
    else:
        raise RuntimeError("no pending call reached")
    seconds = time.perf_counter() - started
    return {
        "call": call_id,
        "flagged": flagged,
        "next_call": selected_call(tab),
        "keys": keys.counts,
        "pressed": keys.pressed,
        "typed_characters": keys.typed,
        "seconds": round(seconds, 2),
    }


def check_saved(base: str, operator: str, result: dict) -> None:
    """The walk's ticket, read back: accepted, its flagged fields as typed (a correction equal to the value there is
    no change, and is not sent)."""
    response = httpx.get(
        f"{base}/v1/calls/{result['call']}/ticket", headers={"Authorization": f"Bearer {operator}"}, timeout=30
    )
    out = response.json()
    if out["state"] != "accepted":
        raise RuntimeError(f"{result['call']} not accepted")
    for name in result["flagged"]:
        if out["ticket"]["fields"][name]["value"] != CORRECTIONS[name]:
            raise RuntimeError(f"{result['call']}: {name} not saved as typed")


def run(old_rev: str) -> dict:
    if not CHROMIUM.exists():
        raise SystemExit(f"Debian's Chromium is not installed at {CHROMIUM}")
    old_files = old_web_files(old_rev)
    results = {}
    with tempfile.TemporaryDirectory(prefix="operator-keys-") as tmp, service(Path(tmp)) as (base, telephony, operator):
        push_demo_calls(base, telephony)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for label, call_id in WALKS:
                context = browser.new_context(
                    viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="Asia/Shanghai"
                )
                context.set_default_timeout(TIMEOUT_MS)
                if label == "before":
                    # the server's answer (headers, policy) with the old file's body
                    def serve_old(route):
                        name = route.request.url.split("?")[0].split("#")[0].rsplit("/", 1)[-1] or "index.html"
                        if name not in old_files:
                            route.continue_()
                            return
                        response = route.fetch()
                        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
                        route.fulfill(response=response, body=old_files[name], content_type=kind)

                    context.route("**/ui/**", serve_old)
                tab = context.new_page()
                results[label] = walk(tab, base, operator, call_id)
                check_saved(base, operator, results[label])
                context.close()
            browser.close()
    before, after = results["before"]["pressed"], results["after"]["pressed"]
    return {"old_rev": old_rev, "walks": results, "ratio": round(after / before, 3)}


def print_table(report: dict) -> None:
    before, after = report["walks"]["before"], report["walks"]["after"]
    purposes = list(dict.fromkeys([*before["keys"], *after["keys"]]))
    table = Table(title=f"Demo call, flagged fields {', '.join(before['flagged'])}: key presses by keyboard only")
    table.add_column("")
    table.add_column(f"before ({report['old_rev']})", justify="right")
    table.add_column("after", justify="right")
    for purpose in purposes:
        table.add_row(purpose, str(before["keys"].get(purpose, 0)), str(after["keys"].get(purpose, 0)))
    table.add_row("[b]key presses[/b]", f"[b]{before['pressed']}[/b]", f"[b]{after['pressed']}[/b]")
    table.add_row("characters of the corrections", str(before["typed_characters"]), str(after["typed_characters"]))
    table.add_row("walk time (s, the browser's)", f"{before['seconds']:.1f}", f"{after['seconds']:.1f}")
    Console().print(table)
    print(f"after / before: {report['ratio']:.2f} of the key presses (goal: at most 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old-rev", default=OLD_REV, help="the commit whose api/web is the page before")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "operator_keys.json")
    args = parser.parse_args()
    report = run(args.old_rev)
    print_table(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
