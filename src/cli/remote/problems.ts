import { usageErrors } from "../exportCommand.js";
import { EXIT, printable } from "../io.js";
import type { ApiClient, ApiError } from "./apiClient.js";

/** Where the roles are explained; a 403 points there. */
const ROLES_GUIDE = `docs/deployment.md, "Who may call the API"`;

/** What a refused call prints (stderr lines) and the exit code it ends with. */
export interface Refusal {
  readonly lines: readonly string[];
  readonly exitCode: number;
}

export interface RefusalContext {
  readonly client: ApiClient;
  /** Turns a field error's field into what the user typed (`--limit`), for 400s; export fields are named as export's flags. */
  readonly flagOf?: (field: string) => string;
  /** Whether `--force` would queue behind a run in progress (only `remote export` has it). */
  readonly canForce?: boolean;
}

/**
 * One refused call as the user should read it: 400 every field error (as flags), 401 why the token
 * was refused and what to check, 403 the role and how to get it, 409 the run in progress, 429 the
 * limit and when to try again, 5xx the problem's detail; anything that is not a problem document is
 * summarised. A 400 ends with the usage code (the request itself was wrong, as with a local export);
 * everything else with EXIT.failed.
 */
export function describeRefusal(error: ApiError, ctx: RefusalContext): Refusal {
  const p = error.problem;
  const detail = p?.detail ? printable(p.detail) : undefined;
  const said = detail ?? error.summary;
  const kind = p?.type ? ` ${printable(p.type.replace(/^urn:referrals-export:problem:/, ""))}` : "";
  const wait =
    error.retryAfterSeconds !== undefined ? ` Try again in ${error.retryAfterSeconds} s (Retry-After).` : "";
  switch (error.status) {
    case 400: {
      const fieldErrors = p?.errors ?? [];
      // Each field as the flag that sets it (`--filter: ...`), as a local export names them.
      const lines =
        fieldErrors.length > 0
          ? usageErrors(
              fieldErrors.map((e) => ({ field: ctx.flagOf?.(e.field) ?? e.field, message: e.message })),
            ).message.split("\n")
          : [said];
      return {
        lines: [`The API refused the request (400${kind}):`, ...lines.map((l) => `  ${l}`)],
        exitCode: EXIT.usage,
      };
    }
    case 401:
      return { lines: unauthorized(error, ctx.client), exitCode: EXIT.failed };
    case 403:
      return { lines: forbidden(error, said), exitCode: EXIT.failed };
    case 409: {
      if (p?.runId !== undefined && p.type?.endsWith("run-in-progress") === true) {
        const status = p.statusUrl !== undefined ? statusUrl(ctx.client, p.statusUrl) : undefined;
        return {
          lines: [
            `Another export is in progress (409): run ${printable(p.runId)}${p.runStatus ? ` is ${printable(p.runStatus)}` : ""}.`,
            ...(status ? [`  status: ${status}`] : []),
            `  follow it: referrals-export remote status ${printable(p.runId)}`,
            ...(ctx.canForce
              ? ["  or add --force to queue another run after it (needs the app role Exports.Admin)"]
              : []),
          ],
          exitCode: EXIT.failed,
        };
      }
      return { lines: [`The API refused the call (409${kind}): ${said}`], exitCode: EXIT.failed };
    }
    case 429:
      return { lines: [`The API's limit is reached (429${kind}): ${said}.${wait}`], exitCode: EXIT.failed };
    default:
      if (error.status >= 500)
        return { lines: [`The API failed (${error.status}${kind}): ${said}.${wait}`], exitCode: EXIT.failed };
      return { lines: [`The API refused the call (${error.status}${kind}): ${said}`], exitCode: EXIT.failed };
  }
}

function unauthorized(error: ApiError, client: ApiClient): string[] {
  const challenge = parseChallenge(error.wwwAuthenticate);
  const reason = challenge.error_description ?? error.problem?.detail ?? challenge.error ?? "no reason given";
  const scope = client.target.scope;
  const expected = challenge.scope !== undefined && challenge.scope !== scope ? challenge.scope : undefined;
  const tenant = /\/([0-9a-f-]{36}|[\w.-]+\.onmicrosoft\.com)\/?/i.exec(
    challenge.authorization_uri ?? "",
  )?.[1];
  return [
    `The API refused the token (401): ${printable(reason)}`,
    `  the token was issued for ${printable(scope)}${expected ? `, but the API asks for ${printable(expected)}` : ""}: set --scope or REFERRALS_EXPORT_API_SCOPE (or API_CLIENT_ID) to the API's application id URI + /.default`,
    `  and sign in to the API's tenant: az login${tenant ? ` --tenant ${printable(tenant)}` : " --tenant <tenant id>"}`,
  ];
}

function forbidden(error: ApiError, said: string): string[] {
  const role =
    error.problem?.requiredRole ?? /\bExports\.(?:Read|Run|Admin)\b/.exec(error.problem?.detail ?? "")?.[0];
  // Another 403 (read links turned off) names its own remedy; only a missing role gets the role hint.
  if (role === undefined) return [`The API refused the call (403): ${said}`];
  return [
    `The API refused the call (403): ${said}`,
    `  to get the app role ${printable(role)}: ask an administrator to assign it to you on the API's enterprise application (${ROLES_GUIDE}), then sign in again (az login) so your token carries it`,
  ];
}

/** The parameters of a `Bearer` challenge: `error`, `error_description`, `scope`, `authorization_uri`. */
export function parseChallenge(header: string | undefined): Record<string, string | undefined> {
  const params: Record<string, string | undefined> = {};
  if (header === undefined) return params;
  const bearer = /\bBearer\b\s*(.*)$/is.exec(header)?.[1] ?? "";
  for (const m of bearer.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    const name = m[1]?.toLowerCase();
    if (name !== undefined) params[name] = (m[2] ?? m[3] ?? "").replace(/\\(.)/g, "$1");
  }
  return params;
}

function statusUrl(client: ApiClient, path: string): string | undefined {
  try {
    return client.url(path).href;
  } catch {
    return undefined;
  }
}
