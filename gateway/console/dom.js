// @module console/dom
// Building elements and formatting numbers. Every piece of text goes in as a Text node
// (append / textContent), never as markup: function names, paths and log lines are
// untrusted, and this is the one place elements are made.

/** An element with attributes (class, dataset, title, …), listeners (onclick) and children (nodes or text). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the rows of `tbody` and shows `empty` (a sibling message) when there are none. */
export function fillTable(section, rows) {
  section.querySelector("tbody").replaceChildren(...rows);
  const empty = section.querySelector(".empty");
  if (empty) empty.hidden = rows.length > 0;
}

export function ms(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (v < 10) return `${v.toFixed(2)} ms`;
  if (v < 1000) return `${v.toFixed(v < 100 ? 1 : 0)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(2)} s`;
  return `${(v / 60_000).toFixed(1)} min`;
}

export function mib(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const m = bytes / 1048576;
  return m >= 1024 ? `${(m / 1024).toFixed(m % 1024 === 0 ? 0 : 1)} GiB` : `${Math.round(m)} MiB`;
}

/** 14:03:07.123 (local time) */
export function clock(t, millis = true) {
  const d = new Date(t);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${millis ? `.${p(d.getMilliseconds(), 3)}` : ""}`;
}

/** "3 min ago", "in 5 h" relative to `now` (ms). */
export function relative(t, now) {
  if (!t) return "–";
  const d = new Date(t).getTime() - now;
  const a = Math.abs(d);
  const v = a < 60_000 ? `${Math.round(a / 1000)} s` : a < 3_600_000 ? `${Math.round(a / 60_000)} min` : a < 172_800_000 ? `${Math.round(a / 3_600_000)} h` : `${Math.round(a / 86_400_000)} d`;
  return d >= 0 ? `in ${v}` : `${v} ago`;
}

/** A date and time, local, for tooltips. */
export function fullTime(t) {
  return t ? new Date(t).toLocaleString() : "";
}

/** The class of an HTTP status: ok, client, server, gone (the client left). */
export function statusClass(status) {
  if (status === 499) return "gone";
  if (status >= 500) return "server";
  if (status >= 400) return "client";
  return "ok";
}
