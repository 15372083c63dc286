// @module console/panels/deploys
// The deploy history, newest first: every deploy and removal with its outcome and duration;
// a failure's error on a row of its own, the whole text in its tooltip.
import { fullTime, h, ms, relative } from "../dom.js";

export function renderDeploys(section, snap) {
  const now = Date.parse(snap.now);
  const rows = [];
  for (const d of snap.deploys) {
    rows.push(h("tr", { dataset: { fn: d.name }, class: d.ok ? null : "failed" },
      h("td", { class: "muted nowrap", title: fullTime(d.at) }, relative(d.at, now)),
      h("td", { class: "name", title: d.source ? `${d.name} from ${d.source}` : d.name }, d.name),
      h("td", { class: "mono" }, d.revision ?? "–"),
      h("td", {}, d.ok
        ? h("span", { class: "outcome ok" }, d.action === "remove" ? "removed" : "deployed")
        : h("span", { class: "outcome failed" }, "failed")),
      h("td", { class: "num mono" }, ms(d.ms))));
    if (!d.ok) rows.push(h("tr", { class: "error-row" }, h("td", { colspan: 5, class: "bad small", title: d.error ?? "" }, d.error ?? "")));
  }
  section.querySelector("tbody").replaceChildren(...rows);
  section.querySelector(".empty").hidden = rows.length > 0;
}
