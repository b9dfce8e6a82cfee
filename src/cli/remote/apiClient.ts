import { z } from "zod";
import { runChangesSchema } from "../../runs/runStore.js";
import { printable } from "../io.js";
import type { ApiTarget } from "./options.js";
import type { ApiTokens } from "./token.js";
import { productVersion } from "../version.js";

/** The global fetch's signature; tests may pass their own. */
export type Fetch = typeof fetch;

/** Longest wait for one answer; a poll that hangs must not hold `--wait` past its timeout. */
const REQUEST_TIMEOUT_MS = 60_000;
/** Characters of a non-JSON answer quoted in a message. */
const SUMMARY_CHARS = 200;
/** Longest Retry-After honoured, so a wrong header cannot park the command for hours. */
const MAX_RETRY_AFTER_SECONDS = 300;

const fieldErrorSchema = z.object({ field: z.string(), message: z.string() });

/** `application/problem+json` (RFC 9457), with the extension members this API sends. */
const problemSchema = z.looseObject({
  type: z.string().optional(),
  title: z.string().optional(),
  status: z.number().optional(),
  detail: z.string().optional(),
  errors: z.array(fieldErrorSchema).optional(),
  runId: z.string().optional(),
  runStatus: z.string().optional(),
  statusUrl: z.string().optional(),
  requiredRole: z.string().optional(),
});
export type Problem = z.infer<typeof problemSchema>;

const runErrorSchema = z.looseObject({ reason: z.string(), message: z.string() });
const readLinkSchema = z.looseObject({ url: z.string(), expiresOn: z.string().optional() });

/** `GET /api/exports/{runId}`: the fields the CLI reads; every other field is kept for `--json`. */
const runViewSchema = z.looseObject({
  runId: z.string(),
  profile: z.string(),
  dataset: z.string().optional(),
  trigger: z.string().optional(),
  status: z.string(),
  queuedAt: z.string().nullish(),
  startedAt: z.string().nullish(),
  completedAt: z.string().nullish(),
  durationMs: z.number().nullish(),
  attempts: z.number().nullish(),
  rowCount: z.number().nullish(),
  manifestPath: z.string().nullish(),
  manifestReadLink: readLinkSchema.nullish(),
  files: z
    .array(
      z.looseObject({
        path: z.string(),
        format: z.string().optional(),
        bytes: z.number().optional(),
        sha256: z.string().optional(),
        rowCount: z.number().optional(),
        readLink: readLinkSchema.nullish(),
      }),
    )
    .nullish(),
  changes: runChangesSchema.loose().nullish(),
  warnings: z.array(z.string()).nullish(),
  error: runErrorSchema.nullish(),
  lastError: runErrorSchema.nullish(),
  statusUrl: z.string().optional(),
});
export type RunView = z.infer<typeof runViewSchema>;

const acceptedSchema = z.looseObject({
  runId: z.string(),
  profile: z.string().optional(),
  status: z.string(),
  statusUrl: z.string(),
});
export type Accepted = z.infer<typeof acceptedSchema>;

/** `POST /api/consent`: the sign-in page that starts a consent through the app. */
const consentStartedSchema = z.looseObject({
  authorizeUrl: z.string(),
  redirectUri: z.string(),
  expiresAt: z.string(),
});
export type ConsentStarted = z.infer<typeof consentStartedSchema>;

const runListSchema = z.looseObject({
  runs: z.array(runViewSchema),
  continuationToken: z.string().nullish(),
});
export type RunList = z.infer<typeof runListSchema>;

/** The API answered, but not with success: what it said, for the message. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly problem: Problem | undefined,
    /** Seconds the answer asks to wait (Retry-After), when it says. */
    readonly retryAfterSeconds: number | undefined,
    readonly wwwAuthenticate: string | undefined,
    /** Status and the start of a body that is not a problem document, made printable. */
    readonly summary: string,
  ) {
    super(problem?.detail ?? summary);
  }
}

/** The call did not get an answer the CLI can use (network, redirect, unexpected body); one line. */
export class RemoteError extends Error {
  override readonly name = "RemoteError";
  constructor(
    message: string,
    /** Worth asking again (the network or the host hiccuped), as opposed to a wrong URL or answer. */
    readonly transient = false,
  ) {
    super(message);
  }
}

export interface Answer<T> {
  readonly value: T;
  readonly headers: Headers;
  /** Seconds the answer asks to wait before the next poll (Retry-After), when it says. */
  readonly retryAfterSeconds: number | undefined;
}

/**
 * A small client of the export API. Every call carries a bearer token for the API's scope, goes
 * only to the configured origin, follows no redirect (the token would go with it) and is bounded
 * in time. Non-2xx answers become ApiError; answers are checked against the documented shapes.
 */
export class ApiClient {
  constructor(
    readonly target: ApiTarget,
    private readonly tokens: ApiTokens,
    private readonly fetchImpl: Fetch = fetch,
  ) {}

  /** The absolute URL of an API path such as `/api/exports/{runId}`, or of a route under the base. */
  url(path: string): URL {
    const url = path.startsWith("/") ? new URL(path, this.target.origin) : new URL(path, this.target.apiBase);
    // The status URLs the API hands out are relative; an absolute one must stay on the API's origin.
    if (url.origin !== this.target.origin)
      throw new RemoteError(
        `the API named a URL on another origin (${printable(url.origin)}); it is not called`,
      );
    return url;
  }

  submit(body: Record<string, unknown>): Promise<Answer<Accepted>> {
    return this.call("POST", this.url("exports"), acceptedSchema, body);
  }

  startConsent(): Promise<Answer<ConsentStarted>> {
    return this.call("POST", this.url("consent"), consentStartedSchema, {});
  }

  getRun(runId: string, options: { readonly readLinks?: boolean } = {}): Promise<Answer<RunView>> {
    const url = this.url(`exports/${encodeURIComponent(runId)}`);
    if (options.readLinks) url.searchParams.set("readLinks", "true");
    return this.call("GET", url, runViewSchema);
  }

  listRuns(query: {
    readonly profile?: string;
    readonly limit?: number;
    readonly continuationToken?: string;
  }): Promise<Answer<RunList>> {
    const url = this.url("exports");
    if (query.profile !== undefined) url.searchParams.set("profile", query.profile);
    if (query.limit !== undefined) url.searchParams.set("limit", String(query.limit));
    if (query.continuationToken !== undefined)
      url.searchParams.set("continuationToken", query.continuationToken);
    return this.call("GET", url, runListSchema);
  }

  private async call<T>(
    method: "GET" | "POST",
    url: URL,
    schema: z.ZodType<T>,
    body?: Record<string, unknown>,
  ): Promise<Answer<T>> {
    const token = await this.tokens.token();
    const where = `${method} ${url.pathname}`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/json, application/problem+json",
          "user-agent": `referrals-export/${productVersion()}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        redirect: "manual",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new RemoteError(`${where}: ${unreachable(error, this.target.origin)}`, true);
    }
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      throw redirectRefused(response, url, where);
    }
    const text = await response.text().catch(() => "");
    const retryAfterSeconds = retryAfter(response.headers.get("retry-after"));
    if (!response.ok) {
      throw new ApiError(
        response.status,
        response.statusText,
        problemOf(text, response.headers.get("content-type")),
        retryAfterSeconds,
        response.headers.get("www-authenticate") ?? undefined,
        summarise(response, text),
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RemoteError(
        `${where}: the API answered ${summarise(response, text)}, not JSON; is --api-url the function app?`,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new RemoteError(
        `${where}: the API's answer is not the documented shape (${printable(
          parsed.error.issues
            .map((i) => `${i.path.join(".") || "body"}: ${i.message}`)
            .slice(0, 3)
            .join("; "),
        )}); is the CLI as new as the app?`,
      );
    return { value: parsed.data, headers: response.headers, retryAfterSeconds };
  }
}

/** Why no answer came: timeout, refused connection, DNS, TLS; one line without the request. */
function unreachable(error: unknown, origin: string): string {
  if (error instanceof Error && error.name === "TimeoutError")
    return `the API at ${origin} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = error instanceof Error ? error.cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code;
  const reason =
    typeof code === "string"
      ? code
      : cause instanceof Error
        ? cause.message
        : error instanceof Error
          ? error.message
          : String(error);
  return `could not reach the API at ${origin}: ${printable(reason.slice(0, SUMMARY_CHARS))}`;
}

function redirectRefused(response: Response, url: URL, where: string): RemoteError {
  const location = response.headers.get("location");
  let target: URL | undefined;
  try {
    target = location === null ? undefined : new URL(location, url);
  } catch {
    target = undefined;
  }
  // Only the origin is shown: a sign-in redirect's query carries state the terminal has no use for.
  const to = target
    ? target.origin === url.origin
      ? `${target.origin}${target.pathname}`
      : target.origin
    : "nowhere";
  const elsewhere = target !== undefined && target.origin !== url.origin;
  return new RemoteError(
    `${where}: the API answered ${response.status} redirecting to ${printable(to)}; redirects are not followed, so the token goes only to ${url.origin}` +
      (elsewhere
        ? ". Check --api-url (the function app's own https://<app>.azurewebsites.net address; App Service sign-in redirects do not apply to tokens)"
        : ". Check --api-url"),
  );
}

/** The body as a problem document, when it is one. */
function problemOf(text: string, contentType: string | null): Problem | undefined {
  if (!/json/i.test(contentType ?? "")) return undefined;
  try {
    const parsed = problemSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** `502 Bad Gateway (text/html): <first 200 characters>`, one printable line. */
function summarise(response: Response, text: string): string {
  const type = response.headers.get("content-type")?.split(";")[0]?.trim();
  const start = text.replace(/\s+/g, " ").trim();
  const quoted = start.length > SUMMARY_CHARS ? `${start.slice(0, SUMMARY_CHARS)}…` : start;
  return printable(
    `${response.status}${response.statusText ? ` ${response.statusText}` : ""}${type ? ` (${type})` : ""}${quoted ? `: ${quoted}` : " with an empty body"}`,
  );
}

/** Retry-After as seconds (a number of seconds or an HTTP date), bounded; undefined when absent or unreadable. */
export function retryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  let seconds: number;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    seconds = Math.max(0, Math.ceil((at - now) / 1000));
  }
  return Math.min(seconds, MAX_RETRY_AFTER_SECONDS);
}
