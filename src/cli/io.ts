/** Where a command writes: injectable so tests capture output and exit codes without a process. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** True when stderr is a terminal (progress lines only make sense there). */
  readonly interactive: boolean;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  interactive: process.stderr.isTTY,
};

export const EXIT = { ok: 0, failed: 1, usage: 2, consent: 3 } as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
