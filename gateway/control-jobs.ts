/**
 * @module gateway/control-jobs
 * The control API's scheduled-jobs endpoints, mounted by control-api.ts under /v1:
 *   GET  /v1/jobs               every job: schedule, time zone, overlap, next run, last run
 *   GET  /v1/jobs/:name         one job and its run history (newest last)
 *   POST /v1/jobs/:name/run     runs the job now; answers with the run's record when it is over
 */
import { Hono } from "hono";
import type { JobService } from "./jobs.ts";

export function createJobsApi(jobs: () => JobService | null) {
  const app = new Hono();
  const notFound = (name: string) => ({ error: "job not found", code: "FNRUN_JOB_NOT_FOUND", message: `no job \`${name}\`: no deployed function of that name has a schedule` });

  app.get("/jobs", (c) => c.json(jobs()?.list() ?? []));

  app.get("/jobs/:name", (c) => {
    const name = c.req.param("name");
    const info = jobs()?.info(name);
    if (!info) return c.json(notFound(name), 404);
    return c.json({ ...info, history: jobs()!.history(name) });
  });

  app.post("/jobs/:name/run", async (c) => {
    const name = c.req.param("name");
    const service = jobs();
    if (!service) return c.json(notFound(name), 404);
    try {
      const run = await service.runNow(name);
      return c.json(run, run.outcome === "ok" ? 200 : run.outcome === "unavailable" ? 503 : 502);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "FNRUN_JOB_NOT_FOUND") return c.json({ error: "job not found", code, message: (err as Error).message }, 404);
      if (code === "FNRUN_JOB_BUSY") return c.json({ error: "job busy", code, message: (err as Error).message }, 409);
      throw err;
    }
  });

  return app;
}
