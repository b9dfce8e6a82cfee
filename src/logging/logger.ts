import { redact, SECRET_KEYS } from "../common/redact.js";

export type LogLevel = "error" | "warn" | "info" | "debug";
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** A logger that adds these fields (runId, correlationId, ...) to every line. */
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

function sanitize(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redact(value);
  if (value instanceof Error) return { name: value.name, message: redact(value.message) };
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => sanitize(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = SECRET_KEYS.test(k) ? "[redacted]" : sanitize(v, depth + 1);
  return out;
}

export type LogSink = (line: string, level: LogLevel) => void;

const defaultSink: LogSink = (line, level) => {
  if (level === "error" || level === "warn") process.stderr.write(line + "\n");
  else process.stdout.write(line + "\n");
};

/** Structured JSON-lines logger with a redaction pass on every field. */
export function createLogger(
  level: LogLevel = "info",
  sink: LogSink = defaultSink,
  base: LogFields = {},
): Logger {
  const write = (lvl: LogLevel, message: string, fields?: LogFields): void => {
    if (ORDER[lvl] > ORDER[level]) return;
    const record = {
      ts: new Date().toISOString(),
      level: lvl,
      msg: redact(message),
      ...(sanitize({ ...base, ...fields }) as object),
    };
    sink(JSON.stringify(record), lvl);
  };
  return {
    error: (m, f) => {
      write("error", m, f);
    },
    warn: (m, f) => {
      write("warn", m, f);
    },
    info: (m, f) => {
      write("info", m, f);
    },
    debug: (m, f) => {
      write("debug", m, f);
    },
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

/** A logger that drops everything (library default). */
export const silentLogger: Logger = createLogger("error", () => undefined);
