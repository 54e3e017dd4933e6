// A call in progress on the operator page: its turns and ticket as the live workers publish them, through
// GET /v1/calls/{id}/live (Server-Sent Events, docs/LIVE.md). The browser's EventSource reconnects by itself after a
// dropped connection and sends the last event's id, so the stream goes on where it stopped.
//
// The edit rule: the machine never overwrites what the operator is working on. A field that has the focus or that the
// operator has changed keeps its text; the machine's newer value is shown beside it with a button to take it.

import { el } from "./api.js";

/**
 * Follows one live call; `handlers`: turn(turn), ticket(ticket), final(data), refined(data),
 * connection("open" | "retrying"). A final event with `refining` is followed by `refined` once the full-call pass
 * over the recording has stored its transcript and ticket (docs/LIVE.md); the stream ends after it.
 */
export class LiveFeed {
  constructor(callId, handlers) {
    this.handlers = handlers;
    this.turns = new Map(); // turn id ("channel:start sample") → turn: a turn published twice is kept once
    this.source = new EventSource(`/v1/calls/${encodeURIComponent(callId)}/live`);
    this.source.addEventListener("open", () => handlers.connection?.("open"));
    // EventSource retries on its own; it gives up only on an HTTP error (a 404: the call is gone, a 401: logged out)
    this.source.addEventListener("error", () => {
      handlers.connection?.(this.source.readyState === EventSource.CLOSED ? "closed" : "retrying");
    });
    this.source.addEventListener("turn", (event) => {
      const turn = JSON.parse(event.data);
      this.turns.set(turn.id, turn);
      handlers.turn?.(turn);
    });
    this.source.addEventListener("ticket", (event) => handlers.ticket?.(JSON.parse(event.data)));
    this.source.addEventListener("final", (event) => {
      const data = JSON.parse(event.data);
      if (!data.refining) this.close(); // the server ends the stream after it: no reconnect
      handlers.final?.(data);
    });
    this.source.addEventListener("refined", (event) => {
      this.close();
      handlers.refined?.(JSON.parse(event.data));
    });
  }

  /** The turns so far, in the order of the call. */
  transcript() {
    return { turns: [...this.turns.values()].sort((a, b) => a.start - b.start || a.channel - b.channel) };
  }

  close() {
    this.source.close();
  }
}

/**
 * Shows the machine's newer `value` beside a field the operator is in or has changed (`row` holds the field's
 * `input`), with 采用 to take it; nothing when the field already says the same. `label` is how the value reads
 * (a select's option text).
 */
export function offerMachineValue(row, input, value, label = value) {
  row.querySelector(".machine-hint")?.remove();
  if (value === input.value) return;
  const take = el("button", { type: "button", className: "link-btn machine-take" }, "采用");
  const hint = el("p", { className: "machine-hint", dataset: { value } },
    "机器新识别：", el("span", { className: "machine-value" }, label || "（空）"), " ", take);
  take.addEventListener("click", () => {
    input.value = value;
    hint.remove();
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.focus();
  });
  row.append(hint);
}
