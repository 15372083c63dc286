/**
 * @module gateway/log
 * The daemon's own log: one JSON object a line when stderr is not a terminal (for
 * journald and log shippers), short human lines when it is.
 */

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function createLogger(stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr, json = !stream.isTTY): Logger {
  const write = (level: Level, msg: string, fields?: Fields) => {
    if (json) {
      stream.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + "\n");
    } else {
      const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
      stream.write(`${level === "info" ? "" : `${level}: `}${msg}${extra}\n`);
    }
  };
  return {
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}

/** A logger that drops everything (tests that do not look at the log). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
