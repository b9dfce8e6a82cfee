import { parseArgs, type ParseArgsConfig } from "node:util";
import { redact } from "../common/redact.js";

/** Where a command writes: injectable so tests capture output and exit codes without a process. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Rewrites the progress line on stderr; undefined ends it. */
  progress?(line: string | undefined): void;
  /** True when stderr is a terminal (progress lines only make sense there). */
  readonly interactive: boolean;
}

let progressShown = false;

/** Ends a progress line on the terminal, so the next line (a log line, a message) starts on its own. */
function endProgress(): void {
  if (progressShown) process.stderr.write("\n");
  progressShown = false;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => {
    endProgress();
    process.stderr.write(line + "\n");
  },
  progress: (line) => {
    if (!process.stderr.isTTY) return;
    if (line === undefined) {
      endProgress();
      return;
    }
    progressShown = true;
    process.stderr.write(`\r${line}   `);
  },
  interactive: process.stderr.isTTY,
};

/**
 * The io every command writes through: each line passes the product's redaction (a connection
 * string's key, a token echoed in an upstream error) and `printable`, so no text reaching the
 * terminal can carry a credential or a control character.
 */
export function safeIo(io: CliIo): CliIo {
  const clean = (text: string): string => text.split("\n").map(printable).join("\n");
  const progress = io.progress?.bind(io);
  return {
    out: (line) => {
      io.out(clean(redact(line)));
    },
    err: (line) => {
      io.err(clean(redact(line)));
    },
    ...(progress
      ? {
          progress: (line: string | undefined) => {
            progress(line === undefined ? undefined : printable(redact(line)));
          },
        }
      : {}),
    interactive: io.interactive,
  };
}

export const EXIT = { ok: 0, failed: 1, usage: 2, consent: 3 } as const;

/** Bad arguments: the command is refused before settings are read or anything is sent. Exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly reason = "usage";
}

export function isUsageError(error: unknown): error is UsageError {
  return error instanceof UsageError;
}

/**
 * What the command needs from this machine is not there: storage that does not answer, no Azure
 * sign-in, a port in use. The message says what to start, set or sign in to. Exit 2.
 */
export class SetupError extends Error {
  override readonly name = "SetupError";
  readonly reason = "setup";
}

export function isSetupError(error: unknown): error is SetupError {
  return error instanceof SetupError;
}

/**
 * Text from the command line or settings made safe to print: control characters (C0, DEL, C1) and
 * bidirectional controls are shown as \uXXXX, so an argument cannot move the cursor, recolour the
 * terminal or fake another line of output.
 */
export function printable(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.charCodeAt(0);
    const unsafe =
      code <= 0x1f ||
      (code >= 0x7f && code <= 0x9f) ||
      (code >= 0x202a && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069);
    out += unsafe ? `\\u${code.toString(16).padStart(4, "0")}` : c;
  }
  return out;
}

/** node:util parseArgs, with its complaints (unknown option, missing value) turned into usage errors. */
export function parseCliArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    // The message quotes the argument: made printable, so it stays one line.
    throw new UsageError(printable(error instanceof Error ? error.message : String(error)));
  }
}

/** Whether the arguments ask for help (`--help` or `-h` anywhere). */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}
