// @module console/panels/pool
// Stem cells (ready / starting of the configured size) and the memory budget: what each function's instances reserve, and the rest.
import { h, mib } from "../dom.js";

export function renderPool(section, snap) {
  const { stemCells: s, memory: m } = snap.pool;
  const dots = [];
  for (let i = 0; i < Math.max(s.size, s.ready + s.starting); i++) dots.push(h("span", { class: `dot ${i < s.ready ? "ready" : i < s.ready + s.starting ? "starting" : "empty"}` }));
  section.querySelector(".dots").replaceChildren(...dots);
  section.querySelector(".stems-text").textContent = `${s.ready} ready${s.starting ? `, ${s.starting} starting` : ""} of ${s.size} stem cells`;

  // Each function's share of the budget, then what is reserved by nothing named (stem cells, starts in flight).
  const parts = snap.functions.filter((f) => f.memory.reservedBytes > 0).map((f, i) => ({ label: f.name, bytes: f.memory.reservedBytes, cls: `c${i % 6}` }));
  const named = parts.reduce((a, p) => a + p.bytes, 0);
  if (m.reserved > named) parts.push({ label: "stem cells, starting", bytes: m.reserved - named, cls: "stem" });
  const budget = Math.max(m.budget, 1);
  section.querySelector(".meter").replaceChildren(
    ...parts.map((p) => {
      const seg = h("span", { class: `seg ${p.cls}`, title: `${p.label}: ${mib(p.bytes)}` });
      seg.style.width = `${(100 * p.bytes) / budget}%`;
      return seg;
    }),
  );
  const pct = Math.round((100 * m.reserved) / budget);
  section.querySelector(".memtext").textContent = `${mib(m.reserved)} of ${mib(m.budget)} reserved (${pct}%)`;
  section.querySelector(".legend").replaceChildren(...parts.map((p) => h("li", {}, h("i", { class: `seg ${p.cls}` }), h("span", { class: "name" }, p.label), h("span", { class: "num muted" }, mib(p.bytes)))));
}
