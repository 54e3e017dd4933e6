// The call player shared by the operator and QA pages: an <audio> element and the transcript kept in
// step with it. The turn being heard is highlighted and scrolled into view; clicking a turn seeks to
// it; a ticket field's evidence is shown as a <mark> inside its turn and can be played.

import { ROLE_NAMES, el, formatSeconds } from "./api.js";

const LOW_TURN_CONFIDENCE = 0.6;
// Played evidence stops a little after the span's end, so the last syllable is not cut off.
const SNIPPET_TAIL_S = 0.4;

const reducedMotion = () => window.matchMedia("(prefers-reduced-motion: reduce)").matches;

export class CallPlayer {
  /**
   * @param {HTMLAudioElement} audio
   * @param {HTMLElement} list  the <ol> the turns are rendered into (its parent scrolls)
   * @param {(index: number) => void} [onTurnActivate]  called after a turn is clicked (and seeked to)
   */
  constructor(audio, list, onTurnActivate) {
    this.audio = audio;
    this.list = list;
    this.scroller = list.parentElement;
    this.onTurnActivate = onTurnActivate;
    this.turns = [];
    this.items = [];
    this.current = -1;
    this.stopAt = null;

    audio.addEventListener("timeupdate", () => this.sync());
    audio.addEventListener("seeked", () => this.sync());
    // A seek or pause by the user ends a snippet: the stop point no longer applies.
    audio.addEventListener("pause", () => { this.stopAt = null; });
    list.addEventListener("click", (event) => {
      const item = event.target.closest(".turn");
      if (!item || !list.contains(item)) return;
      // Selecting text inside a turn (to copy it) should not jump the audio.
      if (String(window.getSelection()).length > 0 && event.target.closest(".turn-text")) return;
      const index = Number(item.dataset.index);
      this.seek(this.turns[index].start);
      this.setCurrent(index);
      if (this.onTurnActivate) this.onTurnActivate(index);
    });
  }

  /** Shows a call: its recording (when stored) and transcript turns. */
  load(callId, transcript, audioAvailable = true) {
    this.clearEvidence();
    this.stopAt = null;
    this.current = -1;
    this.turns = (transcript && transcript.turns) || [];
    if (audioAvailable) {
      this.audio.src = `/v1/calls/${encodeURIComponent(callId)}/audio`;
      this.audio.hidden = false;
    } else {
      this.audio.removeAttribute("src");
      this.audio.load();
      this.audio.hidden = true;
    }
    this.items = this.turns.map((turn, index) => this.renderTurn(turn, index));
    this.list.replaceChildren(...this.items);
    this.scroller.scrollTop = 0;
  }

  /** Empties the player (no call selected). */
  clear() {
    this.audio.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
    this.turns = [];
    this.items = [];
    this.list.replaceChildren();
  }

  renderTurn(turn, index) {
    const role = turn.role === "agent" || turn.role === "caller" ? turn.role : "other";
    const who = ROLE_NAMES[turn.role] || turn.speaker || turn.role || "未知";
    const low = typeof turn.confidence === "number" && turn.confidence < LOW_TURN_CONFIDENCE;
    return el("li", { className: `turn turn-${role}`, dataset: { index: String(index) }, id: `turn-${index}` },
      el("button", {
        type: "button",
        className: "turn-head",
        "aria-label": `第${index + 1}句，${who}，${formatSeconds(turn.start)}，跳到此处播放`,
      },
      el("span", { className: "turn-role" }, who),
      el("span", { className: "turn-time" }, formatSeconds(turn.start)),
      low ? el("span", { className: "turn-low", title: "识别置信度低" }, "⚠ 识别存疑") : null),
      el("p", { className: "turn-text" }, turn.text || ""),
      el("span", { className: "turn-badges" }));
  }

  /** Seeks; with `play`, starts playing (from a click, so the browser allows it). */
  seek(time, play = false) {
    if (typeof time !== "number" || !Number.isFinite(time)) return;
    this.stopAt = null;
    this.audio.currentTime = Math.max(0, time);
    if (play) this.play();
  }

  play() {
    const started = this.audio.play();
    // Playback can be refused (no audio device, recording missing); the seek still stands.
    if (started) started.catch(() => {});
  }

  togglePlay() {
    if (!this.audio.getAttribute("src")) return;
    if (this.audio.paused) this.play();
    else this.audio.pause();
  }

  /** Plays [start, end] once and pauses. */
  playSpan(start, end) {
    this.seek(start, true);
    if (typeof end === "number" && end > start) this.stopAt = end + SNIPPET_TAIL_S;
  }

  /** The turn being heard: the last one that has started. */
  turnAt(time) {
    let found = -1;
    for (let i = 0; i < this.turns.length; i += 1) {
      if (this.turns[i].start <= time + 0.05) found = i;
      else break;
    }
    return found;
  }

  sync() {
    const time = this.audio.currentTime;
    if (this.stopAt !== null && time >= this.stopAt) {
      this.stopAt = null;
      this.audio.pause();
    }
    const index = this.turnAt(time);
    if (index !== this.current) this.setCurrent(index, !this.audio.paused);
  }

  setCurrent(index, follow = true) {
    const previous = this.items[this.current];
    if (previous) {
      previous.classList.remove("is-playing");
      previous.removeAttribute("aria-current");
    }
    this.current = index;
    const item = this.items[index];
    if (!item) return;
    item.classList.add("is-playing");
    item.setAttribute("aria-current", "true");
    if (follow) this.reveal(item);
  }

  /** Scrolls the transcript (not the page) so that `node` is in view. */
  reveal(node) {
    const box = this.scroller.getBoundingClientRect();
    const rect = node.getBoundingClientRect();
    if (rect.top >= box.top && rect.bottom <= box.bottom) return;
    const top = this.scroller.scrollTop + (rect.top - box.top) - box.height / 3;
    this.scroller.scrollTo({ top: Math.max(0, top), behavior: reducedMotion() ? "auto" : "smooth" });
  }

  /** Moves focus to a turn (its button), e.g. from a QA check's "第n句" link. */
  focusTurn(index) {
    const item = this.items[index];
    if (!item) return;
    this.seek(this.turns[index].start);
    this.setCurrent(index);
    item.querySelector(".turn-head").focus({ preventScroll: true });
    this.reveal(item);
  }

  clearEvidence() {
    for (const item of this.list.querySelectorAll(".is-evidence")) {
      item.classList.remove("is-evidence");
      const text = item.querySelector(".turn-text");
      text.textContent = this.turns[Number(item.dataset.index)]?.text || "";
    }
  }

  /**
   * Highlights one piece of a field's evidence: {turn, start_char, end_char, start_time, end_time, text}.
   * The char span indexes the turn's normalised text (digits converted), which can differ from the
   * transcript text shown here, so the evidence text is looked for first, then the span is used
   * clamped to the turn, and at worst the whole turn is marked.
   * With `play`, the evidence is played; otherwise only sought to when `seek` is set.
   */
  showEvidence(evidence, { seek = true, play = false } = {}) {
    this.clearEvidence();
    const item = this.items[evidence.turn];
    if (!item) return null;
    const turnText = this.turns[evidence.turn].text || "";
    let start = evidence.text ? turnText.indexOf(evidence.text) : -1;
    let end = start >= 0 ? start + evidence.text.length : -1;
    if (start < 0 && Number.isInteger(evidence.start_char) && Number.isInteger(evidence.end_char)) {
      start = Math.min(Math.max(0, evidence.start_char), turnText.length);
      end = Math.min(Math.max(start, evidence.end_char), turnText.length);
    }
    if (start < 0 || end <= start) {
      start = 0;
      end = turnText.length;
    }
    const text = item.querySelector(".turn-text");
    const mark = el("mark", { className: "evidence" }, turnText.slice(start, end));
    text.replaceChildren(turnText.slice(0, start), mark, turnText.slice(end));
    item.classList.add("is-evidence");
    this.reveal(item);
    const from = typeof evidence.start_time === "number" ? evidence.start_time : this.turns[evidence.turn].start;
    if (play) this.playSpan(from, evidence.end_time);
    else if (seek) this.seek(from);
    return mark;
  }

  /** Small labels on a turn (the QA page's marks). */
  setBadges(index, labels) {
    const item = this.items[index];
    if (!item) return;
    item.querySelector(".turn-badges").replaceChildren(
      ...labels.map((label) => el("span", { className: "badge badge-mark" }, label)));
    item.classList.toggle("has-mark", labels.length > 0);
  }
}
