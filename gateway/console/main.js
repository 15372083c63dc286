// @module console/main
// The console page: signs in with the control token, then polls GET /v1/overview once a
// second and hands the snapshot to each panel; the log panel streams on its own. Polling,
// not a pushed stream: a snapshot costs the daemon the same however busy the host is, and
// the gateway does nothing per request for it. Hidden tabs do not poll.
import { Api, AuthError } from "./api.js";
import { Login } from "./login.js";
import { renderDeploys } from "./panels/deploys.js";
import { renderFunctions } from "./panels/functions.js";
import { InvocationsPanel } from "./panels/invocations.js";
import { JobsPanel } from "./panels/jobs.js";
import { LogsPanel } from "./panels/logs.js";
import { renderPool } from "./panels/pool.js";

const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);
const api = new Api(sessionStorage);
api.takeTokenFromFragment(location, history);

const main = $("console");
const status = $("status");
const login = new Login(document, (token) => {
  api.setToken(token);
  start();
});
const invocations = new InvocationsPanel($("invocations"));
const logs = new LogsPanel($("logs"), api, signOut);
const jobs = new JobsPanel($("jobs"), api, { onAuthError: signOut, onRun: () => refresh() });

let timer = 0;
let polling = false;
let inFlight = null;

$("logout").addEventListener("click", () => {
  api.setToken(null);
  signOut();
});
$("invocations-fn").addEventListener("change", () => refresh());
// A console URL pasted into this tab again changes only the fragment: no reload, so take its token here.
window.addEventListener("hashchange", () => {
  if (!location.hash.startsWith("#token=")) return;
  api.takeTokenFromFragment(location, history);
  start();
});
document.addEventListener("visibilitychange", () => {
  if (!polling) return;
  if (document.hidden) clearTimeout(timer);
  else refresh();
});

function start() {
  polling = true;
  status.textContent = "connecting…";
  refresh();
}

/** Fetches a snapshot now (or joins the one in flight), then schedules the next. */
function refresh() {
  clearTimeout(timer);
  inFlight ??= poll().finally(() => {
    inFlight = null;
    if (polling && !document.hidden) timer = setTimeout(refresh, POLL_MS);
  });
  return inFlight;
}

async function poll() {
  const q = new URLSearchParams({ invocations: "50" });
  if (invocations.filter) q.set("fn", invocations.filter);
  let snap;
  try {
    snap = await api.get(`/v1/overview?${q}`);
  } catch (err) {
    if (err instanceof AuthError) return signOut(err);
    status.textContent = `daemon unreachable: ${err.message}`;
    status.className = "status down";
    return;
  }
  if (!polling) return;
  login.hide();
  main.hidden = false;
  $("logout").hidden = !api.token;
  $("version").textContent = `fnrun ${snap.version}`;
  status.textContent = `live · ${new Date(snap.now).toLocaleTimeString()}`;
  status.className = "status live";
  renderFunctions($("functions"), snap);
  renderPool($("pool"), snap);
  invocations.render(snap);
  jobs.render(snap);
  renderDeploys($("deploys"), snap);
  logs.render(snap);
}

/** Drops every piece of data from the page and shows the login prompt. */
function signOut(err) {
  polling = false;
  clearTimeout(timer);
  logs.clear();
  jobs.clear();
  main.hidden = true;
  for (const tbody of main.querySelectorAll("tbody")) tbody.replaceChildren();
  for (const el of main.querySelectorAll(".dots, .meter, .legend, #invocations-fn")) el.replaceChildren();
  for (const el of main.querySelectorAll(".stems-text, .memtext, .count")) el.textContent = "";
  $("version").textContent = "";
  $("logout").hidden = true;
  status.textContent = "signed out";
  status.className = "status";
  if (err instanceof AuthError) api.setToken(null);
  login.show(err instanceof AuthError && err.message.startsWith("The daemon refused") ? err.message : null);
}

start();
