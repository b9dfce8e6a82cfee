import { LogLevel, type NodeSystemOptions } from "@azure/msal-node";

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

/**
 * Last line of defence for log text: masks anything shaped like a bearer token, JWT, refresh token or
 * secret parameter, in case a library ever puts one in a message.
 */
export function redact(text: string): string {
  return text
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, "$1 [redacted]")
    .replace(/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g, "[redacted-jwt]")
    .replace(
      /\b(refresh_token|access_token|id_token|client_secret|client_assertion|code_verifier|code|device_code|assertion)=[^&\s"']+/gi,
      "$1=[redacted]",
    )
    .replace(
      /("(?:refresh_token|access_token|id_token|client_secret|secret|value)"\s*:\s*)"[^"]*"/gi,
      '$1"[redacted]"',
    );
}

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
