import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { runCli, type CliDeps } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  /** Every stdout and stderr line, as written. */
  readonly outLines: readonly string[];
  readonly errLines: readonly string[];
  readonly ms: number;
}

export function captureIo(): CliIo & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return {
    outLines,
    errLines,
    interactive: false,
    out: (line) => outLines.push(line),
    err: (line) => errLines.push(line),
  };
}

/** `referrals-export ARGV` in this process, with exactly `env` as its environment. */
export async function cli(
  argv: readonly string[],
  env: Record<string, string> = {},
  deps: CliDeps = {},
): Promise<CliResult> {
  const io = captureIo();
  const started = Date.now();
  const code = await runCli(argv, env, io, deps);
  return {
    code,
    out: io.outLines.join("\n"),
    err: io.errLines.join("\n"),
    outLines: io.outLines,
    errLines: io.errLines,
    ms: Date.now() - started,
  };
}

/** A loopback port nothing listens on (bound once by the kernel's choice, then closed). */
export async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

export const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;
