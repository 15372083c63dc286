/**
 * @module runtime/bootstrap/scheduled-endpoint
 * fnrun's cron endpoint: `POST /__fnrun/scheduled {cron, scheduledTime}` → the module's
 * scheduled(event, env, ctx). Only fnrun's daemon sends it, over the instance's socket (the
 * gateway, and a standalone container, refuse /__fnrun/ paths from clients).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { callScheduled, messageOf, type Env, type ScheduledEvent } from "./function-module.ts";
import { sendJson, type Platform } from "./request-path.ts";
import { SCHEDULED_PATH } from "./reserved-paths.ts";
import type { InstanceState } from "./stem.ts";


/**
 * A cron run: 200 when scheduled() (and what it passed to waitUntil) resolved, 502
 * `x-fnrun-error: threw` when it threw, 501 when the module has no scheduled().
 */
export async function handleScheduled(state: InstanceState, env: Env, req: IncomingMessage, res: ServerResponse, platform: Platform): Promise<void> {
  if (req.method !== "POST") return (req.resume(), sendJson(res, 405, { error: "method not allowed", message: `${SCHEDULED_PATH} takes POST` }, "scheduled"));
  if (!state.handler) return (req.resume(), sendJson(res, 502, { error: "function failed to initialize", message: messageOf(state.initError) }, "init"));
  if (!state.scheduled) return (req.resume(), sendJson(res, 501, { error: "no scheduled handler", message: "the function exports no scheduled() handler" }, "no-scheduled"));
  let event: ScheduledEvent;
  try {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { cron?: unknown; scheduledTime?: unknown };
    if (typeof body.cron !== "string" || typeof body.scheduledTime !== "number") throw new TypeError("expected {cron: string, scheduledTime: number}");
    event = { cron: body.cron, scheduledTime: body.scheduledTime };
  } catch (err) {
    return sendJson(res, 400, { error: "bad scheduled request", message: messageOf(err) }, "scheduled");
  }
  const t0 = performance.now();
  try {
    await callScheduled(state.scheduled, event, env, platform);
  } catch (err) {
    console.error("fnrun: scheduled() threw:", err);
    return sendJson(res, 502, { error: "function threw", message: messageOf(err) }, "threw");
  }
  sendJson(res, 200, { ok: true, ms: Math.round((performance.now() - t0) * 1000) / 1000 });
}
