/**
 * Fault injection for the Partner Center simulator. A spec is comma-separated rules `KIND[:ARG]@WHEN`:
 *
 * - KIND: `429` (ARG = Retry-After seconds, default 1; `429:none` sends no Retry-After), `400`, `500`,
 *   `502`, `503`, `504`, `reset` (socket destroyed mid-body), `truncate` (200 with half a JSON body),
 *   `slow` (ARG = extra delay in ms, default 1000), `short` (fewer rows than asked, TotalCount intact).
 * - WHEN: `N` (request N), `N-M` (requests N..M), `*` (every request), `P%` (each request with
 *   probability P, drawn from a seeded generator so runs repeat).
 *
 * Requests are counted from 1 per plan. When several rules match a request, the first one listed wins.
 */

export type HttpFaultStatus = "400" | "500" | "502" | "503" | "504";

export type Fault =
  | { readonly kind: "429"; readonly retryAfterSeconds: number | undefined }
  | { readonly kind: HttpFaultStatus }
  | { readonly kind: "reset" }
  | { readonly kind: "truncate" }
  | { readonly kind: "slow"; readonly delayMs: number }
  | { readonly kind: "short" };

export type FaultKind = Fault["kind"];

export type FaultWhen =
  | { readonly kind: "range"; readonly from: number; readonly to: number }
  | { readonly kind: "always" }
  | { readonly kind: "probability"; readonly percent: number };

export interface FaultRule {
  readonly text: string;
  readonly fault: Fault;
  readonly when: FaultWhen;
}

export interface FaultPlan {
  readonly rules: readonly FaultRule[];
  /** Referrals requests seen by this plan so far. */
  readonly requestCount: number;
  /** Counts one referrals request and returns the fault to inject into it, if any. */
  next(): Fault | undefined;
}

export const DEFAULT_RETRY_AFTER_SECONDS = 1;
export const DEFAULT_SLOW_MS = 1000;
const MAX_RETRY_AFTER_SECONDS = 86_400;
const MAX_SLOW_MS = 600_000;
const MAX_RULES = 100;

class FaultSpecError extends Error {
  override readonly name = "FaultSpecError";
}

function bad(rule: string, why: string): FaultSpecError {
  return new FaultSpecError(`fault spec: bad rule '${rule}': ${why}`);
}

function wholeNumber(text: string): number | undefined {
  return /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}

function parseFault(rule: string, kind: string, arg: string | undefined): Fault {
  const noArg = (): void => {
    if (arg !== undefined) throw bad(rule, `'${kind}' takes no argument`);
  };
  switch (kind) {
    case "429": {
      if (arg === undefined) return { kind, retryAfterSeconds: DEFAULT_RETRY_AFTER_SECONDS };
      if (arg.toLowerCase() === "none") return { kind, retryAfterSeconds: undefined };
      const seconds = wholeNumber(arg);
      if (seconds === undefined || seconds > MAX_RETRY_AFTER_SECONDS) {
        throw bad(rule, `Retry-After must be whole seconds 0..${MAX_RETRY_AFTER_SECONDS} or 'none'`);
      }
      return { kind, retryAfterSeconds: seconds };
    }
    case "400":
    case "500":
    case "502":
    case "503":
    case "504":
      noArg();
      return { kind };
    case "reset":
    case "truncate":
    case "short":
      noArg();
      return { kind };
    case "slow": {
      if (arg === undefined) return { kind, delayMs: DEFAULT_SLOW_MS };
      const ms = wholeNumber(arg);
      if (ms === undefined || ms > MAX_SLOW_MS)
        throw bad(rule, `delay must be whole milliseconds 0..${MAX_SLOW_MS}`);
      return { kind, delayMs: ms };
    }
    default:
      throw bad(
        rule,
        `unknown kind '${kind}' (use 429, 400, 500, 502, 503, 504, reset, truncate, slow, short)`,
      );
  }
}

function parseWhen(rule: string, text: string): FaultWhen {
  if (text === "*") return { kind: "always" };
  const percent = /^(\d{1,3}(?:\.\d+)?)%$/.exec(text);
  if (percent) {
    const p = Number(percent[1]);
    if (p <= 0 || p > 100) throw bad(rule, "a probability must be above 0% and at most 100%");
    return { kind: "probability", percent: p };
  }
  const range = /^(\d{1,9})(?:-(\d{1,9}))?$/.exec(text);
  if (range) {
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (from < 1) throw bad(rule, "request numbers start at 1");
    if (to < from) throw bad(rule, `range ${from}-${to} is backwards`);
    return { kind: "range", from, to };
  }
  throw bad(rule, `'@${text}' is not N, N-M, * or P%`);
}

function parseRule(rule: string): FaultRule {
  const at = rule.lastIndexOf("@");
  if (at < 0) throw bad(rule, "missing '@WHEN' (e.g. 429@1, 503@2-4, reset@*, 500@10%)");
  const what = rule.slice(0, at).trim();
  const when = rule.slice(at + 1).trim();
  const colon = what.indexOf(":");
  const kind = (colon < 0 ? what : what.slice(0, colon)).trim().toLowerCase();
  const arg = colon < 0 ? undefined : what.slice(colon + 1).trim();
  return { text: rule, fault: parseFault(rule, kind, arg), when: parseWhen(rule, when) };
}

/** A small seeded generator (mulberry32): probability rules repeat exactly for a given seed. */
function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the rule's text. */
function textHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** Parses a fault spec (empty means no faults); throws an Error naming the first bad rule. */
export function parseFaultSpec(spec: string, seed = 1): FaultPlan {
  const trimmed = spec.trim();
  const texts = trimmed === "" ? [] : trimmed.split(",").map((t) => t.trim());
  if (texts.length > MAX_RULES) throw new FaultSpecError(`fault spec: more than ${MAX_RULES} rules`);
  const rules = texts.map((text, i) => {
    if (text === "") throw new FaultSpecError(`fault spec: empty rule at position ${i + 1}`);
    return parseRule(text);
  });
  // One generator per rule, seeded by its text, so adding or reordering rules never shifts another's draws.
  const armed = rules.map((rule) => ({ rule, draw: seededRandom(seed ^ textHash(rule.text)) }));
  let count = 0;

  return {
    rules,
    get requestCount() {
      return count;
    },
    next() {
      count++;
      let chosen: Fault | undefined;
      for (const { rule, draw } of armed) {
        let hit: boolean;
        switch (rule.when.kind) {
          case "always":
            hit = true;
            break;
          case "range":
            hit = count >= rule.when.from && count <= rule.when.to;
            break;
          case "probability":
            // Drawn on every request, matched or not, so the sequence depends only on the seed.
            hit = draw() * 100 < rule.when.percent;
            break;
        }
        if (hit && chosen === undefined) chosen = rule.fault;
      }
      return chosen;
    },
  };
}
