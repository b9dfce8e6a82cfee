import { RestError } from "@azure/core-rest-pipeline";
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { z } from "zod";
import { PROFILE_NAME } from "../export/layout.js";
import { runReadLinks, type RunReadLinks } from "../runs/readLinks.js";
import { isRunId } from "../export/runId.js";
import { isInvalidContinuationTokenError } from "../runs/continuationToken.js";
import { exportRequestSchema, resolveExportRequest } from "../runs/exportRequest.js";
import { MAX_LIST_LIMIT, redactRunTexts, type RunRecord } from "../runs/runStore.js";
import type { Logger } from "../logging/logger.js";
import type { ApiRole, Caller } from "./apiToken.js";
import { authorize, forbidden } from "./authorize.js";
import { PROBLEM_TYPES, invalidRequest, jsonResponse, problemResponse, type FieldError } from "./problem.js";
import { invocationLogger, type FunctionDefinition, type FunctionHost } from "./runtime.js";

/** Largest POST body accepted; a request is a handful of short fields. */
export const MAX_BODY_BYTES = 16 * 1024;
export const DEFAULT_LIST_LIMIT = 20;
/** Seconds a client is asked to wait between status polls of an unfinished run. */
const POLL_AFTER_SECONDS = "5";

/** The request every door accepts, plus `force` (queue behind a run in progress). */
const bodySchema = exportRequestSchema.extend({
  force: z.boolean({ error: "must be true or false" }).optional(),
});
/** The fields a body may hold, as a refusal lists them: those of earlier versions first, in their order. */
const BODY_FIELDS = [...Object.keys(bodySchema.shape).filter((k) => k !== "dataset"), "dataset"];

export const statusPath = (runId: string): string => `/api/exports/${runId}`;

/** POST /api/exports and GET /api/exports share a route; GET /api/exports/{runId} reads one run. */
export function httpExportFunctions(host: FunctionHost): FunctionDefinition[] {
  return [
    {
      kind: "http",
      name: "exports",
      options: {
        route: "exports",
        methods: ["GET", "POST"],
        authLevel: "anonymous",
        handler: (request, context) =>
          request.method === "POST"
            ? guarded(host, request, context, "Exports.Run", (log, caller) =>
                submitExport(host, request, log, caller),
              )
            : guarded(host, request, context, "Exports.Read", () => listExports(host, request)),
      },
    },
    {
      kind: "http",
      name: "exportStatus",
      options: {
        route: "exports/{runId}",
        methods: ["GET"],
        authLevel: "anonymous",
        handler: (request, context) =>
          guarded(host, request, context, "Exports.Read", () => getExport(host, request)),
      },
    },
  ];
}

/**
 * Serves a request only to a caller whose token carries `role`, logging who called; turns storage
 * outages and bugs into problem responses instead of a bare 500.
 */
export async function guarded(
  host: FunctionHost,
  request: HttpRequest,
  context: InvocationContext,
  role: ApiRole,
  handle: (log: Logger, caller: Caller) => Promise<HttpResponseInit>,
): Promise<HttpResponseInit> {
  let log = invocationLogger(context, host.settings.logLevel);
  try {
    const authorization = await authorize(host, request, role);
    if (!authorization.ok) {
      const status = authorization.response.status;
      log.warn("Caller refused", { status, method: request.method, route: new URL(request.url).pathname });
      return authorization.response;
    }
    const { caller } = authorization;
    log = log.child({
      callerKind: caller.kind,
      callerObjectId: caller.objectId,
      callerClientId: caller.clientId,
    });
    return await handle(log, caller);
  } catch (error) {
    log.error("Request failed", { error });
    if (error instanceof RestError || (error as { statusCode?: unknown } | null)?.statusCode !== undefined) {
      return problemResponse(
        {
          type: PROBLEM_TYPES.storageUnavailable,
          title: "Run storage is not available",
          status: 503,
          detail: `Azure Storage could not be reached or refused the request; try again shortly (invocation ${context.invocationId})`,
        },
        { "retry-after": "30" },
      );
    }
    return problemResponse({
      type: PROBLEM_TYPES.internal,
      title: "Internal error",
      status: 500,
      detail: `The request could not be completed; the logs of invocation ${context.invocationId} say why`,
    });
  }
}

async function submitExport(
  host: FunctionHost,
  request: HttpRequest,
  log: Logger,
  caller: Caller,
): Promise<HttpResponseInit> {
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;

  const parsed = bodySchema.safeParse(body.value);
  if (!parsed.success) return invalidRequest(describeIssues(parsed.error.issues));
  const { force, ...input } = parsed.data;
  // Queuing behind a run in progress multiplies the work a caller can start: administrators only.
  if (force === true && !caller.roles.has("Exports.Admin")) return forbidden(caller, "Exports.Admin");

  const resolution = resolveExportRequest(input, host.settings.profiles, { cloud: host.settings.cloud });
  if (!resolution.ok) return invalidRequest(resolution.errors);

  const app = await host.app();
  const outcome = await app.runs.submit(resolution.value, {
    trigger: "http",
    ...(force !== undefined ? { force } : {}),
    logger: log,
  });
  if (outcome.kind === "invalid") return invalidRequest(outcome.errors);
  if (outcome.kind === "limited")
    return problemResponse(
      {
        type: PROBLEM_TYPES.tooManyRuns,
        title: "A limit on runs is reached",
        status: 429,
        detail: outcome.message,
        limit: outcome.limit,
        retryAfterSeconds: outcome.retryAfterSeconds,
      },
      { "retry-after": String(outcome.retryAfterSeconds) },
    );
  if (outcome.kind === "conflict") {
    const active = outcome.active;
    return problemResponse({
      type: PROBLEM_TYPES.runInProgress,
      title: "An export of this profile is already in progress",
      status: 409,
      detail: `Run ${active.runId} of profile '${active.profile}' is ${active.status}; follow it at ${statusPath(active.runId)}, or send "force": true to queue another run after it`,
      runId: active.runId,
      profile: active.profile,
      runStatus: active.status,
      statusUrl: statusPath(active.runId),
    });
  }
  const url = statusPath(outcome.run.runId);
  return jsonResponse(
    202,
    { runId: outcome.run.runId, profile: outcome.run.profile, status: outcome.run.status, statusUrl: url },
    { location: url, "retry-after": POLL_AFTER_SECONDS },
  );
}

async function getExport(host: FunctionHost, request: HttpRequest): Promise<HttpResponseInit> {
  const errors: FieldError[] = [];
  const runId = request.params.runId ?? "";
  if (!isRunId(runId))
    errors.push({ field: "runId", message: "is not a run id; run ids look like 20261124T020000Z-k3x9qa" });
  const readLinks = booleanQuery(request, "readLinks", errors);
  if (errors.length > 0) return invalidRequest(errors);
  if (readLinks && host.settings.httpReadLinkMinutes === 0) return readLinksDisabled();

  const app = await host.app();
  const run = await app.runs.get(runId);
  if (!run)
    return problemResponse({
      type: PROBLEM_TYPES.runNotFound,
      title: "No such export run",
      status: 404,
      detail: `No run with id ${runId} is recorded`,
      runId,
    });
  const finished = run.status === "succeeded" || run.status === "failed";
  const retry: Record<string, string> = finished ? {} : { "retry-after": POLL_AFTER_SECONDS };
  if (!readLinks) return jsonResponse(200, runView(run, app.exportContainer), retry);

  if (run.status !== "succeeded")
    return problemResponse(
      {
        type: PROBLEM_TYPES.runNotSucceeded,
        title: "Read links exist only for succeeded runs",
        status: 409,
        detail: `Run ${runId} is ${run.status}; read links are signed only for a run that succeeded${finished ? "" : ". Poll without readLinks until it does"}`,
        runId,
        runStatus: run.status,
        statusUrl: statusPath(runId),
      },
      retry,
    );
  if (!app.readLinks) return readLinksDisabled();
  const links = await runReadLinks(run, app.readLinks);
  return jsonResponse(200, runView(run, app.exportContainer, links));
}

/** 403 naming the setting that turns read links on. */
function readLinksDisabled(): HttpResponseInit {
  return problemResponse({
    type: PROBLEM_TYPES.readLinksDisabled,
    title: "Read links are turned off",
    status: 403,
    detail:
      "This app does not sign read links; an administrator turns them on by setting HTTP_READ_LINK_MINUTES (1-1440, the links' lifetime in minutes)",
    setting: "HTTP_READ_LINK_MINUTES",
  });
}

/** An optional `true`/`false` query parameter; anything else (or a repeat) is a field error. */
function booleanQuery(request: HttpRequest, name: string, errors: FieldError[]): boolean {
  const values = request.query.getAll(name);
  if (values.length === 0) return false;
  if (values.length === 1 && (values[0] === "true" || values[0] === "false")) return values[0] === "true";
  errors.push({ field: name, message: "must be true or false, given once" });
  return false;
}

async function listExports(host: FunctionHost, request: HttpRequest): Promise<HttpResponseInit> {
  const errors: FieldError[] = [];
  const profile = request.query.get("profile") ?? undefined;
  if (profile !== undefined && !PROFILE_NAME.safeParse(profile).success)
    errors.push({ field: "profile", message: "must be 1-63 characters of a-z, 0-9 and '-'" });
  const limitText = request.query.get("limit") ?? undefined;
  const limit = limitText === undefined ? DEFAULT_LIST_LIMIT : Number(limitText);
  if (!/^\d{1,3}$/.test(limitText ?? "1") || limit < 1 || limit > MAX_LIST_LIMIT)
    errors.push({ field: "limit", message: `must be a whole number from 1 to ${MAX_LIST_LIMIT}` });
  const continuationToken = request.query.get("continuationToken") ?? undefined;
  if (continuationToken !== undefined && (continuationToken === "" || continuationToken.length > 2048))
    errors.push({ field: "continuationToken", message: "must be the continuationToken of a previous page" });
  if (errors.length > 0) return invalidRequest(errors);

  const app = await host.app();
  let page;
  try {
    page = await app.runs.listPage({
      ...(profile !== undefined ? { profile } : {}),
      limit,
      ...(continuationToken !== undefined ? { continuationToken } : {}),
    });
  } catch (error) {
    if (isInvalidContinuationTokenError(error))
      return invalidRequest([{ field: "continuationToken", message: error.message }]);
    throw error;
  }
  const next = page.continuationToken;
  const query = new URLSearchParams({
    ...(profile !== undefined ? { profile } : {}),
    limit: String(limit),
    ...(next !== undefined ? { continuationToken: next } : {}),
  });
  return jsonResponse(200, {
    profile: profile ?? null,
    limit,
    runs: page.runs.map((r) => runView(r, app.exportContainer)),
    continuationToken: next ?? null,
    nextLink: next !== undefined ? `/api/exports?${query.toString()}` : null,
  });
}

/** The public shape of a run: status, timings, result and error; with `links`, each file's read link. */
export function runView(
  stored: RunRecord,
  container: { getBlobClient(name: string): { url: string } },
  links?: RunReadLinks,
): Record<string, unknown> {
  // Records are redacted when written; one written by an older version may not be.
  const run = redactRunTexts(stored);
  return {
    runId: run.runId,
    profile: run.profile,
    // Records of earlier versions name no dataset: they are referrals runs.
    dataset: run.dataset ?? "referrals",
    trigger: run.trigger,
    status: run.status,
    correlationId: run.correlationId,
    query: run.query,
    formats: run.formats,
    queuedAt: run.queuedAt,
    startedAt: run.startedAt ?? null,
    completedAt: run.completedAt ?? null,
    durationMs: run.durationMs ?? null,
    attempts: run.attempts,
    rowCount: run.rowCount ?? null,
    manifestPath: run.manifestPath ?? null,
    ...(links ? { manifestReadLink: links.manifest ?? null } : {}),
    files: (run.files ?? []).map((f, i) => ({
      ...f,
      url: container.getBlobClient(f.path).url,
      ...(links ? { readLink: links.files[i] ?? null } : {}),
    })),
    changes: run.changes ?? null,
    warnings: run.warnings ?? [],
    error: run.error ?? null,
    lastError: run.lastError ?? null,
    statusUrl: statusPath(run.runId),
  };
}

type BodyResult = { ok: true; value: unknown } | { ok: false; response: HttpResponseInit };

/** Reads a bounded UTF-8 JSON body; an empty body is `{}` (an ad-hoc export of everything). */
async function readJsonBody(request: HttpRequest): Promise<BodyResult> {
  const tooLarge = (): BodyResult => ({
    ok: false,
    response: problemResponse({
      type: PROBLEM_TYPES.bodyTooLarge,
      title: "The request body is too large",
      status: 413,
      detail: `The body may be at most ${MAX_BODY_BYTES} bytes`,
      errors: [{ field: "body", message: `is larger than ${MAX_BODY_BYTES} bytes` }],
    }),
  });
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return tooLarge();
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength > MAX_BODY_BYTES) return tooLarge();
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, response: invalidRequest([{ field: "body", message: "is not UTF-8 text" }]) };
  }
  if (text.trim() === "") return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const why = error instanceof SyntaxError ? error.message.slice(0, 200) : "parse error";
    return {
      ok: false,
      response: invalidRequest([{ field: "body", message: `is not valid JSON (${why})` }]),
    };
  }
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys)
        errors.push({
          field: key.slice(0, 100),
          message: `is not a known field (known: ${BODY_FIELDS.join(", ")})`,
        });
    } else if (issue.path.length === 0) {
      errors.push({ field: "body", message: "must be a JSON object" });
    } else {
      const field = issue.path
        .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
        .join("");
      errors.push({ field, message: issue.message });
    }
  }
  return errors;
}
