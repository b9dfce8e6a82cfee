import { execFile, spawn } from "node:child_process";
import { copyFile, mkdtemp, rm, symlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** Longest a spawned command may take before the test calls it hung. */
const EXIT_WITHIN_MS = 60_000;

export interface Built {
  /** dist/ of the build: `cli/main.js`, `devhost/devHost.js`. */
  readonly dist: string;
  remove(): Promise<void>;
}

/**
 * Compiles src/ into a private folder (beside a copy of package.json and a node_modules link), as
 * an installed package is laid out; never over the shared dist/.
 */
export async function buildProduct(): Promise<Built> {
  const dir = await mkdtemp(join(tmpdir(), "referrals-export-cli-build-"));
  await copyFile(resolve("package.json"), join(dir, "package.json"));
  await symlink(resolve("node_modules"), join(dir, "node_modules"), "dir");
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  await new Promise<void>((done) => {
    // A type error elsewhere in src/ still emits JavaScript; the tests check what they run.
    execFile(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", join(dir, "dist")], () => {
      done();
    });
  });
  return { dist: join(dir, "dist"), remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface ProcessResult {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  readonly ms: number;
}

/** Runs `node SCRIPT ARGS` with exactly `env` (plus PATH) and waits for it to exit by itself. */
export function runNode(
  script: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<ProcessResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [script, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${script} ${args.join(" ")} did not exit within ${EXIT_WITHIN_MS} ms\n${out}\n${err}`),
      );
    }, EXIT_WITHIN_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolveRun({ code, out, err, ms: Date.now() - started });
    });
  });
}
