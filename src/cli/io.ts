import { parseArgs, type ParseArgsConfig } from "node:util";
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

export const processIo: CliIo = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  progress: (line) => {
    if (!process.stderr.isTTY) return;
    if (line === undefined) {
      if (progressShown) process.stderr.write("\n");
      progressShown = false;
      return;
    }
    progressShown = true;
    process.stderr.write(`\r${line}   `);
  },
  interactive: process.stderr.isTTY,
};

export const EXIT = { ok: 0, failed: 1, usage: 2, consent: 3 } as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
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
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
