/**
 * @module cli/remote-target
 * Which remote daemon the CLI talks to, if any: `--host URL` (or FNRUN_HOST) with the token
 * from `--token-file FILE` (or FNRUN_TOKEN_FILE), or FNRUN_TOKEN itself. Without a host the
 * CLI uses the unix socket found from config.toml.
 */
import { readFile } from "node:fs/promises";
import { CliError, type RemoteDaemon } from "./client.ts";

export async function remoteTarget(values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<RemoteDaemon | undefined> {
  const host = (values.host as string | undefined) ?? env.FNRUN_HOST;
  if (!host) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) && !/^http:\/\//i.test(host)) {
    throw new CliError(`--host: only http:// is supported (put TLS in front with a reverse proxy), got "${host}"`, 2);
  }
  let url: URL;
  try {
    url = new URL(/^https?:\/\//.test(host) ? host : `http://${host}`);
  } catch {
    throw new CliError(`--host: expected a URL like http://10.0.0.5:7070, got "${host}"`, 2);
  }
  if (url.protocol !== "http:") throw new CliError(`--host: only http:// is supported (put TLS in front with a reverse proxy), got "${host}"`, 2);
  const file = (values["token-file"] as string | undefined) ?? env.FNRUN_TOKEN_FILE;
  let token = file ? undefined : env.FNRUN_TOKEN;
  if (file) {
    token = await readFile(file, "utf8").then((t) => t.trim(), (err: NodeJS.ErrnoException) => {
      throw new CliError(`--token-file ${file}: ${err.code ?? err.message}; give the file holding the daemon's [control] token_file token`, 2);
    });
  }
  if (token && /\s/.test(token)) throw new CliError(`${file ? `--token-file ${file}` : "FNRUN_TOKEN"}: expected one token without spaces or line breaks (the daemon's [control] token_file)`, 2);
  if (!token) throw new CliError(`--host ${host} needs the daemon's control token: pass --token-file FILE or set FNRUN_TOKEN`, 2);
  return { url: url.origin, token };
}
