/**
 * @module cli/main
 * The `fnrun` command: parses arguments, finds the daemon from config.toml, and runs one
 * command. User errors print one message with the fix and no stack trace.
 */
import { resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { loadConfig } from "../gateway/config.ts";
import { ControlClient, CliError } from "./client.ts";
import { COMMAND_HELP, MAIN_HELP } from "./help.ts";
import { commands, type CommandContext } from "./commands.ts";
import { remoteTarget } from "./remote-target.ts";
import { formatError } from "./user-errors.ts";
import { WORKER_COMMAND } from "../gateway/workers/protocol.ts";

const COMMON: NonNullable<ParseArgsConfig["options"]> = {
  config: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  host: { type: "string" },
  "token-file": { type: "string" },
};

export const OPTIONS: Record<string, NonNullable<ParseArgsConfig["options"]>> = {
  up: { listen: { type: "string" } },
  deploy: { image: { type: "string" }, name: { type: "string" }, insecure: { type: "boolean" }, username: { type: "string" }, "password-stdin": { type: "boolean" } },
  build: { dockerfile: { type: "boolean" } },
  ls: {},
  push: { all: { type: "boolean" }, insecure: { type: "boolean" }, username: { type: "string" }, "password-stdin": { type: "boolean" } },
  pull: { insecure: { type: "boolean" }, username: { type: "string" }, "password-stdin": { type: "boolean" } },
  images: { revisions: { type: "boolean" } },
  image: { output: { type: "string", short: "o" }, format: { type: "string" } },
  run: { memory: { type: "string" }, cpus: { type: "string" }, insecure: { type: "boolean" }, username: { type: "string" }, "password-stdin": { type: "boolean" } },
  ps: {},
  rm: {},
  reload: {},
  invoke: {
    data: { type: "string", short: "d" },
    path: { type: "string", short: "p" },
    method: { type: "string", short: "X" },
    header: { type: "string", short: "H", multiple: true },
    include: { type: "boolean", short: "i" },
  },
  logs: { tail: { type: "string" }, follow: { type: "boolean", short: "f" }, since: { type: "string" }, invocation: { type: "string" } },
  secret: {},
  metrics: {},
  dev: {},
  jobs: {},
  export: {
    registry: { type: "string" },
    output: { type: "string", short: "o" },
    routes: { type: "string" },
    knative: { type: "boolean" },
    namespace: { type: "string", short: "n" },
    hostname: { type: "string" },
    "ingress-class": { type: "string" },
    gateway: { type: "string" },
    "user-namespaces": { type: "boolean" },
  },
  console: { port: { type: "string" } },
};

/**
 * Splits argv into the command's name and the rest, skipping global options written before it
 * (`fnrun --config X ls`, as `docker --host H ps` and `kubectl -n NS get` take them). Those
 * options stay in `rest`, where every command's parser accepts them.
 */
export function splitCommand(argv: string[]): { name: string | undefined; rest: string[] } {
  const before: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i].startsWith("-") && argv[i] !== "-" && argv[i] !== "--") {
    const arg = argv[i];
    const long = arg.startsWith("--") ? arg.slice(2).split("=", 1)[0] : null;
    const spec = long !== null ? COMMON[long] : Object.values(COMMON).find((o) => o.short === arg.slice(1));
    // --help / --version before any command are answered by main() itself.
    if (!spec || arg === "--help" || arg === "-h") break;
    before.push(arg);
    if (spec.type === "string" && !arg.includes("=")) {
      if (i + 1 >= argv.length) throw new CliError(`${arg} needs a value\n\n${MAIN_HELP}`, 2);
      before.push(argv[++i]);
    }
    i++;
  }
  return { name: argv[i], rest: [...before, ...argv.slice(i + 1)] };
}

export async function main(argv: string[]): Promise<number> {
  const { name, rest } = splitCommand(argv);
  if (name === undefined && rest.length > 0) throw new CliError(`missing command after ${rest.join(" ")}; run \`fnrun --help\` for the list`, 2);
  if (name === "help" && rest[0] && COMMAND_HELP[rest[0]]) {
    process.stdout.write(COMMAND_HELP[rest[0]]);
    return 0;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(MAIN_HELP);
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write("fnrun 0.1.0\n");
    return 0;
  }
  if (name === WORKER_COMMAND) {
    // A gateway worker forked by `fnrun up` ([gateway] workers > 1); never typed by a user.
    const { runGatewayWorker } = await import("../gateway/workers/worker-main.ts");
    await runGatewayWorker();
    return 0;
  }
  const command = commands[name];
  if (!command) throw new CliError(`unknown command \`${name}\`; run \`fnrun --help\` for the list`, 2);

  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...COMMON, ...OPTIONS[name] }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message.replace(/\. To specify a positional.*$/s, "")}\n\n${COMMAND_HELP[name]}`, 2);
  }
  if (parsed.values.help) {
    process.stdout.write(COMMAND_HELP[name]);
    return 0;
  }
  const configPath = resolve(String(parsed.values.config ?? "config.toml"));
  const ctx: CommandContext = {
    configPath,
    values: parsed.values as CommandContext["values"],
    positionals: parsed.positionals,
    json: Boolean(parsed.values.json),
    out: (text) => process.stdout.write(text),
    client: async () => {
      // --host / FNRUN_HOST: a daemon's TCP control listener, with its token (remote-target.ts).
      const remote = await remoteTarget(parsed.values as Record<string, unknown>);
      if (remote) return new ControlClient(remote);
      const { config } = await loadConfig(configPath);
      return new ControlClient(config.control.socket);
    },
  };
  return command(ctx);
}

/** Runs main() and turns errors into messages and exit codes. */
export async function run(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    // User errors: the message with its fix, no stack (user-errors.ts); --json: one JSON object.
    process.stderr.write(formatError(err, argv.includes("--json")));
    process.exitCode = (err as { exitCode?: number }).exitCode ?? 1;
  }
}
