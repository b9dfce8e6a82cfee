import { LogLevel, type NodeSystemOptions } from "@azure/msal-node";
import { redact } from "../common/redact.js";

type LoggerOptions = NonNullable<NodeSystemOptions["loggerOptions"]>;

export type AuthLogLevel = "error" | "warning" | "info" | "verbose";

/** Where the auth code (and MSAL, through it) writes. Messages never hold tokens or secrets. */
export interface AuthLogger {
  log(level: AuthLogLevel, message: string): void;
}

const RANK: Record<AuthLogLevel, number> = { error: 0, warning: 1, info: 2, verbose: 3 };

/** Default: errors and warnings to stderr, the rest dropped. */
export const consoleAuthLogger: AuthLogger = {
  log(level, message) {
    if (RANK[level] <= RANK.warning) console.error(`[auth] ${level}: ${message}`);
  },
};

/** Writes through `logger` after redaction, filtering by level. */
export function scopedLogger(logger: AuthLogger, minimum: AuthLogLevel = "verbose"): AuthLogger {
  return {
    log(level, message) {
      if (RANK[level] <= RANK[minimum]) logger.log(level, redact(message));
    },
  };
}

/** MSAL logger options: PII logging always off, messages redacted and forwarded to `logger`. */
export function msalLoggerOptions(logger: AuthLogger, level: AuthLogLevel): LoggerOptions {
  const msalLevel: Record<AuthLogLevel, LogLevel> = {
    error: LogLevel.Error,
    warning: LogLevel.Warning,
    info: LogLevel.Info,
    verbose: LogLevel.Verbose,
  };
  const fromMsal = (value: LogLevel): AuthLogLevel =>
    value === LogLevel.Error
      ? "error"
      : value === LogLevel.Warning
        ? "warning"
        : value === LogLevel.Info
          ? "info"
          : "verbose";
  return {
    piiLoggingEnabled: false,
    logLevel: msalLevel[level],
    loggerCallback: (value: LogLevel, message: string, containsPii: boolean) => {
      if (containsPii) return;
      logger.log(fromMsal(value), `msal: ${redact(message)}`);
    },
  };
}
