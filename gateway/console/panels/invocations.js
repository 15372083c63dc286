// @module console/panels/invocations
// Recent invocations, newest first: status, function, request, how the instance was had
// (warm, stem, cold) and the phases as a stacked bar. The list holds still while the
// pointer is over it, so a row can be read on a busy host.
import { clock, fillTable, fullTime, h, ms, statusClass } from "../dom.js";

const PHASES = ["queue", "create", "specialize", "handler", "other"];

export class InvocationsPanel {
  constructor(section) {
    this.section = section;
    this.tbody = section.querySelector("tbody");
    this.select = section.querySelector("#invocations-fn");
    this.pausedNote = section.querySelector(".paused");
    this.pending = null;
    this.tbody.parentElement.addEventListener("mouseleave", () => this.pending && this.render(this.pending));
  }

  /** The function whose invocations the overview should return ("" for all). */
  get filter() {
    return this.select.value;
  }

  render(snap) {
    this.section.dataset.seen = snap.now; // which snapshot this panel has seen, shown or held (tests wait on it)
    syncOptions(this.select, snap.functions.map((f) => f.name), "all functions");
    if (this.tbody.parentElement.matches(":hover")) {
      this.pending = snap;
      this.pausedNote.hidden = false;
      return;
    }
    this.pending = null;
    this.pausedNote.hidden = true;
    const max = Math.max(1, ...snap.invocations.map((r) => r.totalMs));
    fillTable(this.section, snap.invocations.map((r) => row(r, max)));
  }
}

/** The parts of `r.totalMs`: waiting for a slot, container creation, specialization, the function until its response head, the rest (routing, streaming the body). */
export function phases(r) {
  const create = r.createMs ?? 0;
  const specialize = r.specializeMs ?? 0;
  const queue = Math.max(0, r.queueMs - r.startMs);
  const handler = r.handlerMs ?? 0;
  const other = Math.max(0, r.totalMs - queue - create - specialize - handler);
  return { queue, create, specialize, handler, other };
}

function row(r, max) {
  const p = phases(r);
  const bar = h("div", { class: "bar", title: PHASES.map((k) => `${k} ${ms(p[k])}`).join(" · ") });
  // Length on a log scale, so a 1 ms warm call and a 300 ms cold start both show; parts in proportion within it.
  bar.style.width = `${Math.max(3, (100 * Math.log1p(r.totalMs)) / Math.log1p(max))}%`;
  const sum = PHASES.reduce((a, k) => a + p[k], 0) || 1;
  for (const k of PHASES) {
    if (p[k] <= 0) continue;
    const seg = h("span", { class: `seg ${k}` });
    seg.style.width = `${(100 * p[k]) / sum}%`;
    bar.append(seg);
  }
  return h("tr", { dataset: { invocationId: r.id, fn: r.fn } },
    // When it ended, as the list is ordered (and as access logs stamp lines); when it arrived is in the tooltip.
    h("td", { class: "mono muted", title: r.at ? `arrived ${fullTime(r.at)}` : "" }, r.at ? clock(r.at + r.totalMs) : "–"),
    h("td", {}, h("span", { class: `status ${statusClass(r.status)}`, title: r.functionError ? `${r.outcome}: ${r.functionError}` : r.outcome }, String(r.status))),
    h("td", { class: "name" }, r.fn),
    h("td", { class: "mono path", title: `${r.method} ${r.path}\ninvocation ${r.id}` }, h("span", { class: "muted" }, `${r.method} `), r.path),
    h("td", {}, r.kind ? h("span", { class: `kind ${r.kind}` }, r.kind) : h("span", { class: "muted", title: r.outcome }, "–")),
    h("td", { class: "wide" }, bar),
    h("td", { class: "num mono" }, ms(r.totalMs)));
}

/** Keeps a <select>'s options equal to `names` (plus a first "" option labelled `all`, when given), keeping the choice. */
export function syncOptions(select, names, all) {
  const want = all === undefined ? names : ["", ...names];
  const have = [...select.options].map((o) => o.value);
  if (have.length === want.length && have.every((v, i) => v === want[i])) return;
  const chosen = select.value;
  select.replaceChildren(...want.map((v) => h("option", { value: v }, v === "" ? all : v)));
  if (want.includes(chosen)) select.value = chosen;
}
