import { afterAll, beforeAll } from "vitest";
import { tokensIssuedInProcess } from "../../src/simulator/tokenRegistry.js";

/**
 * Log canary. Used as a vitest setup file (or imported by a test file), it records everything the
 * test process writes to stdout/stderr and through `console`, and after all tests of the file checks
 * that no credential appears in it: no token any simulated Entra ID issued in this process, no fixture
 * secret, no bearer value, refresh token or simulator client secret by shape. Output of child
 * processes can be added with `recordOutput`.
 */

/** Fixed secrets of the test fixtures (test/support/*Fixture.ts); a test keeps this list in sync. */
export const FIXTURE_SECRETS: readonly string[] = [
  "fixture-access-token-7f3a",
  "pc-app-secret-value-do-not-log-7f3a",
  "kv-identity-secret-value-do-not-log-91be",
];

/** Credentials recognised by their shape, for secrets this process never saw issued. */
export const CREDENTIAL_PATTERNS: readonly { readonly what: string; readonly pattern: RegExp }[] = [
  { what: "a simulator refresh token", pattern: /sim-rt\.[A-Za-z0-9_-]{16,}/ },
  {
    what: "a simulated app's client secret",
    pattern: /local-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/,
  },
  { what: "a bearer value", pattern: /\bBearer\s+(?!\[redacted)[A-Za-z0-9\-._~+/]{20,}/ },
  { what: "a JWT", pattern: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/ },
  // A SAS (read link) is a bearer credential too: its signature must never reach a log.
  { what: "a SAS signature", pattern: /[?&]sig=(?!\[redacted|REDACTED)[A-Za-z0-9%+/=]{20,}/ },
];

export interface CanaryFinding {
  /** What leaked (never the value itself, so the report does not leak it again). */
  readonly what: string;
  /** 1-based line of the captured output where it first appears. */
  readonly line: number;
}

/** Finds credentials in `text`: any of `secrets` verbatim, or anything shaped like one. */
export function findCredentials(text: string, secrets: Iterable<string>): CanaryFinding[] {
  const findings: CanaryFinding[] = [];
  const lineOf = (index: number): number => text.slice(0, index).split("\n").length;
  let n = 0;
  for (const secret of secrets) {
    n++;
    if (secret.length < 8) continue;
    const at = text.indexOf(secret);
    if (at >= 0) findings.push({ what: `secret #${n} (${secret.length} characters)`, line: lineOf(at) });
  }
  for (const { what, pattern } of CREDENTIAL_PATTERNS) {
    const match = pattern.exec(text);
    if (match) findings.push({ what, line: lineOf(match.index) });
  }
  return findings;
}

/** Captured output is bounded; past this, further output is only counted. */
const MAX_CAPTURED_CHARS = 64 * 1024 * 1024;

interface CanaryState {
  chunks: string[];
  chars: number;
  dropped: number;
}

const STATE_KEY = Symbol.for("referrals-export.test.canary");

function state(): CanaryState {
  const holder = globalThis as { [STATE_KEY]?: CanaryState };
  let current = holder[STATE_KEY];
  if (current === undefined) {
    current = { chunks: [], chars: 0, dropped: 0 };
    holder[STATE_KEY] = current;
    install();
  }
  return current;
}

/** Adds text (e.g. a child process's output) to what the canary checks. */
export function recordOutput(text: string): void {
  const s = state();
  if (s.chars + text.length > MAX_CAPTURED_CHARS) {
    s.dropped += text.length;
    return;
  }
  s.chunks.push(text);
  s.chars += text.length;
}

/** Everything captured since the current test file started. */
export function capturedOutput(): string {
  return state().chunks.join("");
}

function toText(chunk: unknown): string {
  if (typeof chunk === "string") return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk).toString("utf8");
  return String(chunk);
}

function install(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = (...args: unknown[]): boolean => {
      recordOutput(toText(args[0]));
      const accepted: unknown = Reflect.apply(original, stream, args);
      return accepted !== false;
    };
  }
  for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
    const original = console[method].bind(console) as (...args: unknown[]) => void;
    console[method] = (...args: unknown[]): void => {
      recordOutput(
        args.map((a) => (typeof a === "string" ? a : a instanceof Error ? a.stack : safeJson(a))).join(" ") +
          "\n",
      );
      original(...args);
    };
  }
}

function safeJson(value: unknown): string {
  try {
    // JSON.stringify gives undefined (not a string) for these.
    if (value === undefined || typeof value === "function" || typeof value === "symbol") return String(value);
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

state();

beforeAll(() => {
  const s = state();
  s.chunks = [];
  s.chars = 0;
  s.dropped = 0;
});

afterAll(() => {
  const s = state();
  const findings = findCredentials(capturedOutput(), [...FIXTURE_SECRETS, ...tokensIssuedInProcess()]);
  if (findings.length > 0) {
    throw new Error(
      `Log canary: credentials appeared in this file's output: ${findings
        .map((f) => `${f.what} at captured line ${f.line}`)
        .join("; ")}`,
    );
  }
  if (s.dropped > 0)
    process.stderr.write(`log canary: ${s.dropped} characters of output were not checked (over the cap)\n`);
});
