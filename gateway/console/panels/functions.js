// @module console/panels/functions
// Deployed functions: routes, serving revision, instances by state, memory they hold, how their invocations started.
import { fillTable, fullTime, h, mib } from "../dom.js";

export function renderFunctions(section, snap) {
  section.querySelector("#functions-count").textContent = String(snap.functions.length);
  fillTable(section, snap.functions.map(row));
}

function row(f) {
  const i = f.instances ?? { busy: 0, idle: 0, starting: 0, queued: 0 };
  const c = f.invocations;
  const total = i.busy + i.idle + i.starting;
  return h("tr", { dataset: { fn: f.name } },
    h("td", { class: "name" }, f.name),
    h("td", { class: "mono", title: `deployed ${fullTime(f.deployedAt)} from ${f.source}` }, f.revision),
    h("td", {}, f.routes.map((r) => h("span", { class: "chip" }, r.method === "*" ? r.path : `${r.method} ${r.path}`))),
    h("td", { class: "instances" },
      total === 0 ? h("span", { class: "muted" }, "none") : null,
      i.busy ? h("span", { class: "pill busy", title: "serving a request" }, `${i.busy} busy`) : null,
      i.idle ? h("span", { class: "pill idle", title: "warm, waiting" }, `${i.idle} idle`) : null,
      i.starting ? h("span", { class: "pill starting", title: "being started" }, `${i.starting} starting`) : null,
      i.queued ? h("span", { class: "pill queued", title: "requests waiting for an instance" }, `${i.queued} queued`) : null),
    h("td", { class: "num", title: `each instance is limited to ${mib(f.memory.limitBytes)}` },
      f.memory.reservedBytes ? mib(f.memory.reservedBytes) : h("span", { class: "muted" }, "0"),
      h("div", { class: "muted small" }, `${mib(f.memory.limitBytes)} each`)),
    h("td", { class: "num" },
      String(c.invocations),
      c.errors ? h("span", { class: "bad small" }, ` · ${c.errors} 5xx`) : null,
      h("div", { class: "muted small" }, `${c.starts.warm} warm · ${c.starts.stem} stem · ${c.starts.cold} cold`)));
}
