// @module console/panels/logs
// A live tail of one function's log: the last lines, then each new one as the daemon writes
// it (GET /v1/functions/NAME/logs?follow=1, streamed through fetch so the token goes in a
// header). At most MAX_LINES stay in the page; lines are added once per frame, not one by one.
// Log lines are the function's own output: untrusted text, shown as text.
import { AuthError } from "../api.js";
import { clock, h } from "../dom.js";
import { syncOptions } from "./invocations.js";

const MAX_LINES = 500;
const TAIL = 100;
const RETRY_MS = 2000;
const LINE_RE = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (\S+) (stdout|stderr|-) (?:inv=(\S+) )?([\s\S]*)$/;

export class LogsPanel {
  constructor(section, api, onAuthError) {
    this.api = api;
    this.onAuthError = onAuthError;
    this.view = section.querySelector(".logview");
    this.select = section.querySelector("#logs-fn");
    this.follow = section.querySelector("#logs-follow");
    this.state = section.querySelector(".logs-state");
    this.fn = null;
    this.abort = null;
    this.queue = [];
    this.frame = 0;
    this.select.addEventListener("change", () => this.open(this.select.value));
    section.querySelector("#logs-clear").addEventListener("click", () => this.view.replaceChildren());
    this.follow.addEventListener("change", () => this.follow.checked && this.#scroll());
  }

  render(snap) {
    const names = snap.functions.map((f) => f.name);
    syncOptions(this.select, names);
    if (this.fn && !names.includes(this.fn)) this.close("function removed");
    if (!this.fn && names.length > 0) this.open(this.select.value || names[0]);
  }

  open(fn) {
    if (fn === this.fn) return;
    this.close();
    this.fn = fn;
    this.select.value = fn;
    this.view.replaceChildren();
    const abort = (this.abort = new AbortController());
    void this.#stream(fn, abort.signal);
  }

  /** Stops the stream; `why` is shown. */
  close(why = "") {
    this.abort?.abort();
    this.abort = null;
    this.fn = null;
    this.queue = [];
    this.state.textContent = why;
  }

  /** Everything shown goes (signed out). */
  clear() {
    this.close();
    this.view.replaceChildren();
    this.select.replaceChildren();
  }

  async #stream(fn, signal) {
    while (!signal.aborted) {
      this.state.textContent = "live";
      // Each connection starts with the last TAIL lines: a reconnection replaces what is shown.
      let fresh = true;
      try {
        await this.api.lines(`/v1/functions/${encodeURIComponent(fn)}/logs?follow=1&tail=${TAIL}`, signal, (lines) => {
          if (fresh) this.view.replaceChildren();
          fresh = false;
          this.#add(lines);
        });
        if (!signal.aborted) this.state.textContent = "the daemon ended the stream; reconnecting";
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof AuthError) return this.onAuthError(err);
        this.state.textContent = `reconnecting: ${err.message}`;
      }
      if (!signal.aborted) await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  #add(lines) {
    for (const l of lines) this.queue.push(l);
    if (this.queue.length > MAX_LINES) this.queue.splice(0, this.queue.length - MAX_LINES);
    this.frame ||= requestAnimationFrame(() => this.#flush());
  }

  #flush() {
    this.frame = 0;
    const lines = this.queue.splice(0);
    if (lines.length === 0) return;
    this.view.append(...lines.map(line));
    const extra = this.view.childElementCount - MAX_LINES;
    for (let i = 0; i < extra; i++) this.view.firstElementChild.remove();
    if (this.follow.checked) this.#scroll();
  }

  #scroll() {
    this.view.scrollTop = this.view.scrollHeight;
  }
}

function line(raw) {
  const m = LINE_RE.exec(raw);
  if (!m) return h("div", { class: "line" }, h("span", { class: "text" }, raw));
  const [, time, instance, stream, inv, text] = m;
  return h("div", { class: `line ${stream === "-" ? "sys" : stream}`, title: `${time} ${instance}${inv ? ` · invocation ${inv}` : ""}` },
    h("span", { class: "time" }, clock(time)),
    h("span", { class: "inst" }, instance),
    h("span", { class: "text" }, text));
}
