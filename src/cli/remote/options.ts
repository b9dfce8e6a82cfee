import type { Env } from "../commandSettings.js";
import { UsageError, printable } from "../io.js";

/** Options every `remote` command takes: where the API is and which token to send. */
export const TARGET_OPTIONS = {
  "api-url": { type: "string" },
  scope: { type: "string" },
} as const;

/** Where the API is and the scope of the token it accepts, checked before anything is sent. */
export interface ApiTarget {
  /** The function app's base URL, with `/api` appended: every route is resolved under it. */
  readonly apiBase: URL;
  /** Only this origin ever receives the token. */
  readonly origin: string;
  readonly scope: string;
}

/** Hosts a dev host listens on: the only ones reached over plain http. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The API's base URL and token scope from the flags, else the environment; throws UsageError. */
export function apiTarget(
  values: { readonly "api-url"?: string | undefined; readonly scope?: string | undefined },
  env: Env,
): ApiTarget {
  const urlText = values["api-url"] ?? nonEmpty(env.REFERRALS_EXPORT_API_URL);
  if (urlText === undefined)
    throw new UsageError(
      "where is the API? pass --api-url https://<function app>.azurewebsites.net or set REFERRALS_EXPORT_API_URL",
    );
  const apiBase = apiBaseUrl(
    urlText,
    values["api-url"] !== undefined ? "--api-url" : "REFERRALS_EXPORT_API_URL",
  );
  return { apiBase, origin: apiBase.origin, scope: tokenScope(values.scope, env) };
}

function apiBaseUrl(text: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `${source} '${printable(text.slice(0, 200))}' is not a URL; give the function app's base URL, e.g. https://func-abc.azurewebsites.net`,
    );
  }
  // Only the origin is ever echoed: the rest may hold what the checks below refuse.
  const shown = printable(url.origin);
  if (url.username !== "" || url.password !== "")
    throw new UsageError(
      `${source} must not carry credentials (user:password@); the CLI signs in with your Azure account`,
    );
  if (url.search !== "" || url.hash !== "")
    throw new UsageError(
      `${source} must be the function app's base URL without a query or fragment (never put a key in a URL), e.g. ${shown}`,
    );
  if (url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname))
    throw new UsageError(
      `${source} ${shown} uses http: tokens are only sent over https (plain http is accepted for 127.0.0.1, ::1 and localhost, the local dev host)`,
    );
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new UsageError(`${source} must be an https URL, e.g. https://func-abc.azurewebsites.net`);
  // `https://host`, `https://host/` and `https://host/api` all mean the same API.
  const path = url.pathname.replace(/\/+$/, "");
  return new URL(`${path.endsWith("/api") ? path : `${path}/api`}/`, url.origin);
}

function tokenScope(flag: string | undefined, env: Env): string {
  const scope = flag ?? nonEmpty(env.REFERRALS_EXPORT_API_SCOPE);
  if (scope !== undefined) {
    if (!/^\S{1,500}$/.test(scope) || printable(scope) !== scope)
      throw new UsageError(
        `${flag !== undefined ? "--scope" : "REFERRALS_EXPORT_API_SCOPE"} must be one scope without spaces, e.g. api://<API client id>/.default`,
      );
    return scope;
  }
  const clientId = nonEmpty(env.API_CLIENT_ID);
  if (clientId === undefined)
    throw new UsageError(
      "which token does the API accept? pass --scope api://<API client id>/.default, set REFERRALS_EXPORT_API_SCOPE, or set API_CLIENT_ID to the API app registration's client id",
    );
  if (!GUID.test(clientId))
    throw new UsageError("API_CLIENT_ID must be the API app registration's application (client) id, a GUID");
  return `api://${clientId.toLowerCase()}/.default`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** Longest `--timeout`: a day; a run that takes longer is followed with `remote status`. */
const MAX_TIMEOUT_SECONDS = 24 * 3600;

/** `--timeout`: seconds, or a number with s, m or h (`90s`, `30m`, `2h`); returns milliseconds. */
export function parseTimeout(text: string): number {
  const match = /^(\d{1,6})([smh]?)$/.exec(text.trim());
  const unit = { "": 1, s: 1, m: 60, h: 3600 }[match?.[2] ?? ""] ?? 1;
  const seconds = match ? Number(match[1]) * unit : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_TIMEOUT_SECONDS))
    throw new UsageError(
      `--timeout '${printable(text.slice(0, 40))}' must be a duration from 1s to 24h, e.g. 90s, 30m or 2h`,
    );
  return seconds * 1000;
}

/** A duration for people: `2 h`, `30 min`, `45 s`. */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
