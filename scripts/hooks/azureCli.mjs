// What the azd hooks share: running the Azure CLI (the only Azure tool they use) and azd, temporary
// JSON files for request bodies, retries, and how a hook ends. Plain Node.js (18 or later) with no
// package, so the hooks run before `npm install` and on every platform azd runs them.
import console from "node:console";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A failure the hook explains to the admin; it ends the hook with exit code 1. */
export class HookError extends Error {}

/** @param {string} message @returns {never} */
export function fail(message) {
  throw new HookError(message);
}

/**
 * Runs the hook's body; a HookError becomes its message on stderr and exit code 1 (azd then stops,
 * as `continueOnError: false` asks). Temporary files are removed either way.
 * @param {() => void} body
 */
export function runHook(body) {
  try {
    body();
  } catch (error) {
    if (!(error instanceof HookError)) throw error;
    console.error("");
    console.error(error.message);
    process.exitCode = 1;
  } finally {
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  }
}

/** @type {string | undefined} */
let tempDir;

/**
 * Writes a request body to a temporary file and returns the `@file` argument that hands it to the
 * Azure CLI: JSON on a command line is mangled by some shells (cmd.exe, PowerShell), a file is not.
 * @param {string} name
 * @param {unknown} value
 */
export function jsonFileArgument(name, value) {
  tempDir ??= mkdtempSync(join(tmpdir(), "referrals-export-hook-"));
  const path = join(tempDir, name);
  writeFileSync(path, JSON.stringify(value, null, 2));
  return `@${path}`;
}

/**
 * cmd.exe quoting for one argument (Windows runs `az` as az.cmd, through the shell). Request bodies
 * travel in files, so a quote or a percent sign here is a bug, not data.
 * @param {string} arg
 */
function quoteForCmd(arg) {
  if (/^[\w@:/.,=+-]+$/.test(arg)) return arg;
  if (/["%!\r\n]/.test(arg)) throw new Error(`cannot pass ${JSON.stringify(arg)} to cmd.exe`);
  return `"${arg}"`;
}

/**
 * Runs a command; returns its exit status and stdout. Its stderr is shown to the admin as it comes,
 * or, with `captureStderr`, returned instead.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ captureStderr?: boolean }} [options]
 */
function run(command, args, { captureStderr = false } = {}) {
  /** @type {import("node:child_process").SpawnSyncOptionsWithStringEncoding} */
  const options = {
    encoding: "utf8",
    stdio: ["ignore", "pipe", captureStderr ? "pipe" : "inherit"],
    maxBuffer: 64 * 1024 * 1024,
  };
  const result =
    process.platform === "win32"
      ? spawnSync(
          process.env.ComSpec ?? "cmd.exe",
          ["/d", "/s", "/c", `"${[command, ...args].map(quoteForCmd).join(" ")}"`],
          { ...options, windowsVerbatimArguments: true },
        )
      : spawnSync(command, args, options);
  // cmd.exe answers 9009 for a command it cannot find.
  const missing =
    /** @type {NodeJS.ErrnoException | undefined} */ (result.error)?.code === "ENOENT" ||
    (process.platform === "win32" && result.status === 9009);
  if (result.error && !missing) fail(`${command} could not be started: ${result.error.message}`);
  return {
    status: result.status ?? 1,
    stdout: result.stdout,
    stderr: captureStderr ? result.stderr : "",
    missing,
  };
}

/**
 * Runs a command that must be installed.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {{ captureStderr?: boolean }} [options]
 */
function runInstalled(command, args, options = {}) {
  const result = run(command, args, options);
  if (result.missing)
    fail(
      `${command} was not found on PATH. Install it (docs/deployment.md lists what the deployment needs) and run again.`,
    );
  return result;
}

/** @param {readonly string[]} args */
function describe(args) {
  return args.filter((a) => !a.startsWith("@")).join(" ");
}

/**
 * Runs `az <args> --output json` and returns the parsed output (null when the command printed
 * nothing, as `az rest` does for 204 No Content). A failure stops the hook, naming the command.
 * @param {readonly string[]} args
 * @param {string} [hint] what to do when it fails
 * @returns {unknown}
 */
export function az(args, hint) {
  const { status, stdout } = runInstalled("az", [...args, "--output", "json"]);
  if (status !== 0) fail(`az ${describe(args)} failed (exit code ${status}).${hint ? `\n${hint}` : ""}`);
  return parseOutput(args, stdout);
}

/**
 * @param {readonly string[]} args
 * @param {string} stdout
 * @returns {unknown}
 */
function parseOutput(args, stdout) {
  const text = stdout.trim();
  if (text === "") return null;
  try {
    return parseJson(text);
  } catch {
    return fail(`az ${describe(args)} printed something that is not JSON:\n${text.slice(0, 500)}`);
  }
}

/**
 * @param {string} text
 * @returns {unknown}
 */
function parseJson(text) {
  return JSON.parse(text);
}

/**
 * `az` for a command that may fail for a while right after an object was created: Microsoft Entra
 * ID replicates new objects, and until then answers that they do not exist. Only such answers are
 * tried again, after each delay; any other failure stops the hook at once, like az().
 * @param {readonly string[]} args
 * @param {readonly number[]} delaysMs
 * @param {string} [hint]
 * @returns {unknown}
 */
export function azWithRetries(args, delaysMs, hint) {
  for (const delay of delaysMs) {
    const { status, stdout, stderr } = runInstalled("az", [...args, "--output", "json"], {
      captureStderr: true,
    });
    if (status === 0) return parseOutput(args, stdout);
    process.stderr.write(stderr);
    if (!/does not exist|not found|does not reference/i.test(stderr))
      fail(`az ${describe(args)} failed (exit code ${status}).${hint ? `\n${hint}` : ""}`);
    console.log(
      `  (Microsoft Entra ID is still replicating the new object; trying again in ${delay / 1000} s)`,
    );
    sleep(delay);
  }
  return az(args, hint);
}

/** @param {number} ms */
function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `azd <args>`; a failure stops the hook. Returns false when azd is not installed (the hook
 * run by hand, for a deployment without azd).
 * @param {readonly string[]} args
 */
export function azd(args) {
  const { status, missing } = run("azd", args);
  if (missing) return false;
  if (status !== 0) fail(`azd ${args.join(" ")} failed (exit code ${status}).`);
  return true;
}

/**
 * Microsoft Graph v1.0 of the cloud the Azure CLI is set to (graph.microsoft.us in US Government).
 * @returns {string}
 */
export function graphBaseUrl() {
  const cloud = /** @type {{ endpoints?: { microsoftGraphResourceId?: string } } | null} */ (
    az(["cloud", "show"])
  );
  const resource = cloud?.endpoints?.microsoftGraphResourceId;
  if (!resource) return fail("az cloud show names no Microsoft Graph endpoint for the current cloud.");
  return `${resource.replace(/\/+$/, "")}/v1.0`;
}

/**
 * A value azd passes the hook (an azd environment value or a Bicep output); undefined when empty.
 * @param {string} name
 */
export function setting(name) {
  const value = process.env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}
