// @module console/panels/deploys
// The deploy history, newest first: every deploy and removal with its outcome and duration.
import { fillTable, fullTime, h, ms, relative } from "../dom.js";

export function renderDeploys(section, snap) {
  const now = Date.parse(snap.now);
  fillTable(section, snap.deploys.map((d) =>
    h("tr", { dataset: { fn: d.name } },
      h("td", { class: "muted nowrap", title: fullTime(d.at) }, relative(d.at, now)),
      h("td", { class: "name", title: d.source ? `from ${d.source}` : "" }, d.name),
      h("td", { class: "mono" }, d.revision ?? "–"),
      h("td", {}, d.ok
        ? h("span", { class: "outcome ok" }, d.action === "remove" ? "removed" : "deployed")
        : h("span", { class: "outcome failed", title: d.error ?? "" }, `${d.action} failed`),
        d.ok ? null : h("div", { class: "bad small clip", title: d.error ?? "" }, d.error ?? "")),
      h("td", { class: "num mono" }, ms(d.ms)))));
}
