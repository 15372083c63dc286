/**
 * @module gateway/deploy-stream
 * `POST /v1/functions` with `Accept: application/x-ndjson`: the deploy as a stream of events,
 * one JSON object a line, so `fnrun deploy` can show each step (bundle, image, start) as it
 * finishes instead of waiting for the whole deploy:
 *
 *   {"event":"start","name":"hello"}
 *   {"event":"step","name":"hello","step":"bundle","ms":12.3}
 *   {"event":"deployed","name":"hello","result":{...DeployResult}}   or  {"event":"failed","name":"hello","error":{code,message,...}}
 *   {"event":"end","deployed":1,"failed":0}
 *
 * Problems found before anything starts (no such folder) are ordinary JSON errors.
 */
import type { Deployer } from "./deployer.ts";
import { httpErrorFor } from "./errors.ts";

export const NDJSON = "application/x-ndjson";

export function wantsEvents(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes(NDJSON);
}

export async function deployEvents(deployer: Pick<Deployer, "functionDirs" | "configFor" | "deploy">, path: string): Promise<Response> {
  const dirs = await deployer.functionDirs(path);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (event: object) => controller.enqueue(encoder.encode(JSON.stringify(event) + "\n"));
      let deployed = 0;
      let failed = 0;
      for (const dir of dirs) {
        let name = dir;
        try {
          const fc = deployer.configFor(dir);
          name = fc.name;
          send({ event: "start", name });
          const result = await deployer.deploy(fc, (step, ms) => send({ event: "step", name, step, ms: Math.round(ms * 10) / 10 }));
          deployed++;
          send({ event: "deployed", name, result });
        } catch (err) {
          failed++;
          send({ event: "failed", name, error: { ...httpErrorFor(err).body, message: (err as Error).message, kind: (err as { kind?: string }).kind ?? "system" } });
        }
      }
      send({ event: "end", deployed, failed });
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": NDJSON, "cache-control": "no-store" } });
}
