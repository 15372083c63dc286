// @module console/api
// The console's client of the control API. The token lives in this tab's sessionStorage and
// travels only in the Authorization header: never in a URL, where logs and history keep it.
// A 401 is an AuthError, whatever asked: the page then drops its data and shows the login.

const KEY = "fnrun.console.token";

export class AuthError extends Error {}

export class Api {
  constructor(storage = sessionStorage) {
    this.storage = storage;
  }

  get token() {
    return this.storage.getItem(KEY);
  }

  setToken(token) {
    if (token) this.storage.setItem(KEY, token);
    else this.storage.removeItem(KEY);
  }

  /**
   * `fnrun console` prints its URL with `#token=…`: the fragment never reaches a server. It is
   * moved into sessionStorage and removed from the address bar (and so from the history).
   */
  takeTokenFromFragment(location, history) {
    const m = /^#token=([^&]+)/.exec(location.hash);
    if (!m) return;
    let token = m[1];
    try {
      token = decodeURIComponent(token);
    } catch {} // not percent-encoded after all: taken as it is, and the daemon judges it
    this.setToken(token);
    history.replaceState(null, "", location.pathname + location.search);
  }

  #headers(extra = {}) {
    const token = this.token;
    return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
  }

  async #fetch(path, init = {}) {
    const res = await fetch(path, { ...init, cache: "no-store", credentials: "omit", headers: this.#headers(init.headers) });
    if (res.status === 401) {
      await res.body?.cancel();
      throw new AuthError(this.token ? "The daemon refused this token." : "This daemon needs its control token.");
    }
    return res;
  }

  /** GET → parsed JSON; a non-2xx answer throws with the daemon's message. */
  async get(path, signal) {
    const res = await this.#fetch(path, { signal });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(body?.message ?? `${path}: ${res.status}`);
    return body;
  }

  /** POST → { status, body }: the caller decides what a non-2xx answer means (a failed job run is still a run). */
  async post(path) {
    const res = await this.#fetch(path, { method: "POST" });
    return { status: res.status, body: await res.json().catch(() => null) };
  }

  /** Streams a text response line by line into `onLines` (batches of whole lines) until it ends or `signal` aborts. */
  async lines(path, signal, onLines) {
    const res = await this.#fetch(path, { signal });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      throw new Error(body?.message ?? `${path}: ${res.status}`);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let partial = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const parts = (partial + value).split("\n");
      partial = parts.pop();
      if (parts.length > 0) onLines(parts.filter((l) => l !== ""));
    }
  }
}
