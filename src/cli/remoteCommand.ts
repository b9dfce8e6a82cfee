import type { TokenCredential } from "@azure/core-auth";
import { PROFILE_NAME } from "../export/layout.js";
import { isRunId } from "../export/runId.js";
import type { Env } from "./commandSettings.js";
import { parseExportArgs } from "./exportCommand.js";
import { RUNS_LIST_MAX } from "./help.js";
import { EXIT, UsageError, parseCliArgs, printable, type CliIo } from "./io.js";
import { ApiClient, ApiError, RemoteError, type Fetch } from "./remote/apiClient.js";
import { TARGET_OPTIONS, apiTarget, formatDuration, parseTimeout } from "./remote/options.js";
import {
  outKeeping,
  printOutcome,
  printRun,
  printRunTable,
  progressLine,
  readLinkUrls,
} from "./remote/output.js";
import { describeRefusal, type RefusalContext } from "./remote/problems.js";
import { ApiTokens, TokenError, defaultCredential } from "./remote/token.js";
import { waitForRun } from "./remote/wait.js";

/** Exit code of `remote export --wait` that stopped waiting at `--timeout`; the run goes on. */
export const EXIT_WAIT_TIMED_OUT = 4;
/** How long `--wait` waits unless told. */
const DEFAULT_TIMEOUT_MS = 2 * 3600 * 1000;
/** Longest continuation token passed back to the API. */
const MAX_TOKEN_CHARS = 4096;

export interface RemoteContext {
  readonly env: Env;
  readonly io: CliIo;
  /**
   * stdout without the product's redaction (lines are still made printable), for what the user
   * asked for and redaction would spoil: read links, continuation tokens. Nothing else goes there.
   */
  readonly rawOut: (line: string) => void;
  /** The identity that signs in to the API; default DefaultAzureCredential (`az login`). */
  readonly credential?: TokenCredential;
  readonly fetch?: Fetch;
}

/** `remote export|runs|status`: the deployed HTTP API, called with the user's Azure sign-in. */
export async function remoteCommand(args: readonly string[], ctx: RemoteContext): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "export":
      return remoteExport(rest, ctx);
    case "runs":
      return remoteRuns(rest, ctx);
    case "status":
      return remoteStatus(rest, ctx);
    case "consent":
      return remoteConsent(rest, ctx);
    default:
      throw new UsageError(
        `unknown remote command '${printable((sub ?? "").slice(0, 40))}' (try: remote export, remote runs, remote status, remote consent)`,
      );
  }
}

/** The options `remote export` adds to the export flags (which `parseExportArgs` reads). */
const REMOTE_EXPORT_OPTIONS = {
  ...TARGET_OPTIONS,
  force: { type: "boolean" },
  wait: { type: "boolean" },
  timeout: { type: "string" },
} as const;

async function remoteExport(args: readonly string[], ctx: RemoteContext): Promise<number> {
  // The remote options are taken out first; the rest are the export flags, read by the very parser
  // of a local export, so both build the same request and refuse the same input.
  const { values, tokens } = parseCliArgs({
    args: [...args],
    options: REMOTE_EXPORT_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const taken = new Set<number>();
  for (const token of tokens) {
    if (token.kind !== "option" || !(token.name in REMOTE_EXPORT_OPTIONS)) continue;
    taken.add(token.index);
    if (token.value !== undefined && !token.inlineValue) taken.add(token.index + 1);
  }
  const request = parseExportArgs(args.filter((_, i) => !taken.has(i)));
  const wait = flag(values.wait, "--wait");
  const force = flag(values.force, "--force");
  const timeoutText = text(values.timeout, "--timeout");
  if (timeoutText !== undefined && !wait) throw new UsageError("--timeout goes with --wait");
  const timeoutMs = timeoutText === undefined ? DEFAULT_TIMEOUT_MS : parseTimeout(timeoutText);
  const client = apiClient(
    { "api-url": text(values["api-url"], "--api-url"), scope: text(values.scope, "--scope") },
    ctx,
  );
  const refusal: RefusalContext = {
    client,
    canForce: !force,
    flagOf: (field) => (field === "force" ? "--force" : field),
  };
  const io = ctx.io;

  return called(ctx, refusal, async () => {
    const accepted = await client.submit({ ...request.input, ...(force ? { force: true } : {}) });
    const run = accepted.value;
    const statusUrl = client.url(run.statusUrl).href;
    if (!wait) {
      if (request.json)
        io.out(
          JSON.stringify(
            { runId: run.runId, profile: run.profile ?? null, status: run.status, statusUrl },
            null,
            2,
          ),
        );
      else {
        io.out(`Export ${run.runId} ${run.status}${run.profile ? ` (profile ${run.profile})` : ""}`);
        io.out(`Status: ${statusUrl}`);
        io.err(`Follow it with: referrals-export remote status ${run.runId}  (or start it with --wait)`);
      }
      return EXIT.ok;
    }
    io.err(
      `Export ${run.runId} ${run.status}; waiting for it (at most ${formatDuration(timeoutMs)}; Ctrl-C stops waiting, not the run)`,
    );
    const outcome = await waitForRun(client, run.runId, {
      timeoutMs,
      firstPollSeconds: accepted.retryAfterSeconds,
      onChange: (view, elapsedMs) => {
        io.err(progressLine(view, elapsedMs));
      },
      onRetry: (reason, seconds) => {
        io.err(`Polling failed (${reason}); trying again in ${seconds} s`);
      },
    });
    if (outcome.kind === "timedOut") {
      io.err(
        `Gave up waiting after ${formatDuration(timeoutMs)}: run ${run.runId} is still ${outcome.run?.status ?? run.status} and goes on in Azure. ` +
          `Follow it with: referrals-export remote status ${run.runId}`,
      );
      return EXIT_WAIT_TIMED_OUT;
    }
    printOutcome(outcome.run, request.json, io);
    if (outcome.run.status === "succeeded") return EXIT.ok;
    return outcome.run.error?.reason === "consent_required" ? EXIT.consent : EXIT.failed;
  });
}

async function remoteRuns(args: readonly string[], ctx: RemoteContext): Promise<number> {
  const { values } = parseCliArgs({
    args: [...args],
    options: {
      ...TARGET_OPTIONS,
      profile: { type: "string" },
      limit: { type: "string" },
      continuation: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!/^\d{1,3}$/.test(values.limit) || limit < 1 || limit > RUNS_LIST_MAX)
      throw new UsageError(`--limit must be a whole number from 1 to ${RUNS_LIST_MAX}`);
  }
  if (values.profile !== undefined && !PROFILE_NAME.safeParse(values.profile).success)
    throw new UsageError(`--profile '${printable(values.profile.slice(0, 80))}' is not a valid profile name`);
  const continuation = values.continuation;
  if (
    continuation !== undefined &&
    (continuation === "" || continuation.length > MAX_TOKEN_CHARS || printable(continuation) !== continuation)
  )
    throw new UsageError("--continuation must be the token a previous page printed");
  const client = apiClient(values, ctx);
  const refusal: RefusalContext = {
    client,
    flagOf: (field) =>
      ({ profile: "--profile", limit: "--limit", continuationToken: "--continuation" })[field] ?? field,
  };

  return called(ctx, refusal, async () => {
    const { runs, continuationToken } = (
      await client.listRuns({
        ...(values.profile !== undefined ? { profile: values.profile } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(continuation !== undefined ? { continuationToken: continuation } : {}),
      })
    ).value;
    const next = continuationToken ?? undefined;
    if (values.json) {
      outKeeping(
        ctx.rawOut,
        JSON.stringify({ runs, continuationToken: next ?? null }, null, 2),
        next ? [next] : [],
      );
      return EXIT.ok;
    }
    printRunTable(runs, ctx.io);
    if (next !== undefined) {
      const again = [
        "referrals-export remote runs",
        ...(values.profile !== undefined ? [`--profile ${values.profile}`] : []),
        ...(limit !== undefined ? [`--limit ${limit}`] : []),
        `--continuation ${shellQuote(next)}`,
      ].join(" ");
      outKeeping(ctx.rawOut, `More runs: ${again}`, [shellQuote(next)]);
    }
    return EXIT.ok;
  });
}

async function remoteStatus(args: readonly string[], ctx: RemoteContext): Promise<number> {
  const { values, positionals } = parseCliArgs({
    args: [...args],
    options: {
      ...TARGET_OPTIONS,
      "read-links": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  const [runId, ...extra] = positionals;
  if (runId === undefined) throw new UsageError("which run? give its id: remote status RUN_ID");
  if (extra.length > 0) throw new UsageError("give one run id");
  if (!isRunId(runId))
    throw new UsageError(
      `'${printable(runId.slice(0, 60))}' is not a run id; run ids look like 20261124T020000Z-k3x9qa`,
    );
  const client = apiClient(values, ctx);
  const refusal: RefusalContext = {
    client,
    flagOf: (field) => ({ runId: "RUN_ID", readLinks: "--read-links" })[field] ?? field,
  };

  return called(ctx, refusal, async () => {
    const run = (await client.getRun(runId, { readLinks: values["read-links"] })).value;
    const links = readLinkUrls(run);
    if (values.json) outKeeping(ctx.rawOut, JSON.stringify(run, null, 2), links);
    else printRun(run, ctx.io, ctx.rawOut);
    if (links.length > 0)
      ctx.io.err(
        "Anyone holding a read link can read that file until it expires, without signing in: share it like the file.",
      );
    return EXIT.ok;
  });
}

/**
 * `remote consent`: asks the app for a sign-in page (POST /api/consent, Exports.Admin) and opens it.
 * Entra ID sends the browser back to the app, whose confidential client redeems the code, so the
 * refresh token stored in Key Vault can only be used with the app's own credential.
 */
async function remoteConsent(args: readonly string[], ctx: RemoteContext): Promise<number> {
  const { values, positionals } = parseCliArgs({
    args: [...args],
    options: { ...TARGET_OPTIONS, open: { type: "boolean", default: false } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError("remote consent takes no arguments");
  const client = apiClient(values, ctx);
  const refusal: RefusalContext = { client, flagOf: (field) => field };
  return called(ctx, refusal, async () => {
    const started = (await client.startConsent()).value;
    ctx.io.err("Open this page in a browser and sign in as a Partner Center admin of the partner's tenant:");
    // The page holds no secret (its state is single-use and bound to the app); redaction would spoil it.
    outKeeping(ctx.rawOut, started.authorizeUrl, [started.authorizeUrl]);
    ctx.io.err(
      `The link works once, until ${started.expiresAt}. Entra ID then sends you back to ${started.redirectUri}, which says whether the consent was stored.`,
    );
    if (values.open) (await import("../auth/consent.js")).openBrowser(started.authorizeUrl);
    return EXIT.ok;
  });
}

function apiClient(
  values: { readonly "api-url"?: string | undefined; readonly scope?: string | undefined },
  ctx: RemoteContext,
): ApiClient {
  const target = apiTarget(values, ctx.env);
  const credential = ctx.credential;
  const tokens = new ApiTokens(
    target.scope,
    credential ? () => Promise.resolve(credential) : () => defaultCredential(ctx.env),
  );
  return new ApiClient(target, tokens, ctx.fetch);
}

/** Runs the calls of a command; a refusal, a token or network failure becomes its message and exit code. */
async function called(
  ctx: RemoteContext,
  refusal: RefusalContext,
  call: () => Promise<number>,
): Promise<number> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ApiError) {
      const { lines, exitCode } = describeRefusal(error, refusal);
      for (const line of lines) ctx.io.err(line);
      return exitCode;
    }
    if (error instanceof TokenError || error instanceof RemoteError) {
      ctx.io.err(`referrals-export: ${error.message}`);
      return EXIT.failed;
    }
    throw error;
  }
}

/** A boolean flag given as `--flag`; `--flag=value` is refused (non-strict parsing lets it through). */
function flag(value: string | boolean | undefined, name: string): boolean {
  if (typeof value === "string") throw new UsageError(`${name} takes no value`);
  return value === true;
}

/** A string option's value; the option without one is refused. */
function text(value: string | boolean | undefined, name: string): string | undefined {
  if (value === true) throw new UsageError(`Option '${name} <value>' argument missing`);
  return typeof value === "string" ? value : undefined;
}

/** A value pasted into a POSIX shell as one word. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}
