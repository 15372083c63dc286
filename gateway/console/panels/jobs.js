// @module console/panels/jobs
// Scheduled jobs: schedule, next run, the last runs with their outcome, and "Run now", which
// runs the job (POST /v1/jobs/NAME/run), waits for it and shows how it went and what it logged.
import { AuthError } from "../api.js";
import { fullTime, h, ms, relative } from "../dom.js";

export class JobsPanel {
  constructor(section, api, { onAuthError, onRun }) {
    this.section = section;
    this.api = api;
    this.onAuthError = onAuthError;
    this.onRun = onRun;
    this.list = section.querySelector(".joblist");
    /** Per job: the result of the last "Run now" from this page, and whether one is running. */
    this.results = new Map();
    this.running = new Set();
    this.views = new Map();
  }

  render(snap) {
    const now = Date.parse(snap.now);
    this.section.querySelector("#jobs-count").textContent = String(snap.jobs.length);
    this.section.querySelector(".empty").hidden = snap.jobs.length > 0;
    // Each job's element is made once and updated in place: a button replaced under the pointer would lose its click.
    const names = new Set(snap.jobs.map((j) => j.name));
    for (const [name, view] of this.views) if (!names.has(name)) (view.article.remove(), this.views.delete(name));
    for (const j of snap.jobs) {
      let view = this.views.get(j.name);
      if (!view) this.views.set(j.name, (view = this.#view(j.name)));
      this.#update(view, j, now);
      this.list.append(view.article); // in the snapshot's order
    }
  }

  clear() {
    this.results.clear();
    this.views.clear();
    this.list.replaceChildren();
  }

  #view(name) {
    const button = h("button", { type: "button", class: "run", onclick: () => this.#runNow(name) }, "Run now");
    const view = { button, schedule: h("code", { class: "chip" }), running: h("span", { class: "pill busy" }), next: h("span", { class: "muted small" }), result: h("div"), runs: h("div") };
    view.article = h("article", { class: "job", dataset: { job: name } },
      h("div", { class: "jobhead" }, h("span", { class: "name" }, name), view.schedule, view.running, h("span", { class: "spacer" }), view.next, button),
      view.result,
      view.runs);
    return view;
  }

  #update(view, j, now) {
    const busy = this.running.has(j.name);
    view.button.disabled = busy;
    view.button.textContent = busy ? "Running…" : "Run now";
    view.schedule.textContent = j.schedule;
    view.schedule.title = j.timezone ? `time zone ${j.timezone}` : "host time zone";
    view.running.hidden = !j.running;
    view.running.textContent = `${j.running} running`;
    view.next.textContent = j.nextRun ? `next ${relative(j.nextRun, now)}` : "no next run";
    view.next.title = fullTime(j.nextRun);
    const result = this.results.get(j.name);
    view.result.replaceChildren(...(result ? [resultView(result)] : []));
    view.runs.replaceChildren(j.recent.length === 0 ? h("div", { class: "muted small runs" }, "never run") : h("table", { class: "runs" }, h("tbody", {}, j.recent.map((r) => runRow(r, now)))));
  }

  async #runNow(name) {
    this.running.add(name);
    this.results.delete(name);
    this.onRun();
    try {
      const { status, body } = await this.api.post(`/v1/jobs/${encodeURIComponent(name)}/run`);
      // 200: it ran and resolved; 502/503: it ran (or could not) and failed, with its record; 404/409: not run.
      this.results.set(name, body?.outcome ? { run: body } : { error: body?.message ?? `the daemon answered ${status}` });
    } catch (err) {
      if (err instanceof AuthError) return this.onAuthError(err);
      this.results.set(name, { error: err.message });
    } finally {
      this.running.delete(name);
      this.onRun();
    }
  }
}

function runRow(r, now) {
  return h("tr", { class: "run", dataset: { runId: r.id } },
    h("td", { class: "muted", title: fullTime(r.startedAt) }, relative(r.startedAt, now)),
    h("td", {}, h("span", { class: `outcome ${r.outcome}`, title: r.error ?? "" }, r.outcome)),
    h("td", { class: "muted" }, r.trigger),
    h("td", {}, r.start ? h("span", { class: `kind ${r.start}` }, r.start) : null),
    h("td", { class: "num mono" }, ms(r.durationMs)));
}

function resultView(result) {
  if (result.error) return h("div", { class: "result bad" }, result.error);
  const r = result.run;
  return h("div", { class: `result ${r.outcome === "ok" ? "good" : "bad"}`, dataset: { runId: r.id } },
    h("div", {}, `Run ${r.id}: `, h("b", {}, r.outcome), ` in ${ms(r.durationMs)}`, r.start ? ` (${r.start} start)` : "", r.error ? ` — ${r.error}` : ""),
    r.logs?.length ? h("pre", { class: "runlog" }, r.logs.slice(-10).map((l) => `${l}\n`)) : null);
}
