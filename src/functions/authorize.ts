import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { Settings } from "../config/settings.js";
import { entraAuthorityHost } from "../partnerCenter/clouds.js";
import {
  apiTokenValidator,
  discoverTenantKeys,
  type ApiRole,
  type ApiTokenValidator,
  type Caller,
  type TokenCheck,
} from "./apiToken.js";
import { PROBLEM_TYPES, problemResponse } from "./problem.js";
import type { FunctionHost } from "./runtime.js";

export type Authorization =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly response: HttpResponseInit };

/** Where the guide explains roles; named in every 403. */
const ROLES_GUIDE = "docs/deployment.md, 'Who may call the API'";
/** After a failed discovery, calls within this time are refused without asking Entra ID again. */
const DISCOVERY_RETRY_MS = 10_000;

const validators = new WeakMap<FunctionHost, ApiTokenValidator>();

/**
 * Checks the caller's bearer token and that it carries `role` (or a role that includes it).
 * A function key plays no part: without a valid token nothing is served.
 */
export async function authorize(
  host: FunctionHost,
  request: HttpRequest,
  role: ApiRole,
): Promise<Authorization> {
  const validator = validatorFor(host);
  const check = await validator.check(request.headers.get("authorization"));
  if (!check.ok) return { ok: false, response: refused(validator.scope, check) };
  if (!check.caller.roles.has(role)) return { ok: false, response: forbidden(check.caller, role) };
  return check;
}

/** 403 naming the role a call needs and the roles the caller has. */
export function forbidden(caller: Caller, role: ApiRole): HttpResponseInit {
  const includedBy: Record<ApiRole, string> = {
    "Exports.Read": " (Exports.Run and Exports.Admin include it)",
    "Exports.Run": " (Exports.Admin includes it)",
    "Exports.Admin": "",
  };
  const has = caller.assignedRoles.length > 0 ? caller.assignedRoles.join(", ") : "no app role";
  return problemResponse({
    type: PROBLEM_TYPES.forbidden,
    title: "The caller lacks an app role this call needs",
    status: 403,
    detail: `This call needs the app role ${role}${includedBy[role]}; the token carries ${has}. An administrator assigns app roles to users, groups and apps on the API's enterprise application (${ROLES_GUIDE})`,
    requiredRole: role,
    assignedRoles: caller.assignedRoles,
  });
}

function refused(scope: string | undefined, check: Exclude<TokenCheck, { ok: true }>): HttpResponseInit {
  if (check.status === 503)
    return problemResponse(
      {
        type: PROBLEM_TYPES.authUnavailable,
        title: "Callers cannot be checked right now",
        status: 503,
        detail: check.description,
      },
      { "retry-after": "30" },
    );
  const params = [
    `realm="referrals-export"`,
    ...(scope ? [`scope="${scope}"`] : []),
    ...(check.error
      ? [`error="${check.error}"`, `error_description="${check.description.replace(/["\\]/g, "'")}"`]
      : []),
  ];
  return problemResponse(
    {
      type: PROBLEM_TYPES.unauthenticated,
      title: "A valid bearer token is needed",
      status: 401,
      detail: `${check.description}. Send 'Authorization: Bearer <token>' with a Microsoft Entra ID access token${scope ? ` for ${scope}` : ""}, e.g. from: az account get-access-token --scope ${scope ?? "api://<API_CLIENT_ID>/.default"}`,
    },
    { "www-authenticate": `Bearer ${params.join(", ")}` },
  );
}

function validatorFor(host: FunctionHost): ApiTokenValidator {
  if (host.apiTokens) return host.apiTokens;
  let validator = validators.get(host);
  if (!validator) {
    validator = entraValidator(host.settings);
    validators.set(host, validator);
  }
  return validator;
}

/** Validates against the tenant's Entra ID, discovered on first use and again after a failure. */
function entraValidator(settings: Settings): ApiTokenValidator {
  const api = settings.apiAuth;
  const tenant = settings.tenantId;
  if (!api || !tenant)
    return {
      check: () =>
        Promise.resolve({
          ok: false,
          status: 503,
          description: `This app's HTTP API has no app registration to check callers against, so it serves no one: set ${api ? "AZURE_TENANT_ID" : "API_CLIENT_ID"} (docs/deployment.md)`,
        }),
    };
  const authorityHost = settings.authorityHost ?? entraAuthorityHost(settings.cloud);
  const scope = `api://${api.clientId}/.default`;
  let ready: Promise<ApiTokenValidator> | undefined;
  let failedAt = Number.NEGATIVE_INFINITY;
  return {
    scope,
    async check(authorization) {
      if (authorization === null || authorization.trim() === "")
        return { ok: false, status: 401, description: "This API needs a bearer token" };
      if (!ready) {
        if (Date.now() - failedAt < DISCOVERY_RETRY_MS) return unavailable();
        ready = discoverTenantKeys({ authorityHost, tenant }).then(({ issuer, tenantId, keys }) =>
          apiTokenValidator({ issuer, tenantId, keys, audiences: api.audiences, scope }),
        );
      }
      let validator: ApiTokenValidator;
      try {
        validator = await ready;
      } catch {
        ready = undefined;
        failedAt = Date.now();
        return unavailable();
      }
      return validator.check(authorization);
    },
  };
}

function unavailable(): TokenCheck {
  return {
    ok: false,
    status: 503,
    description: "The tenant's Entra ID sign-in configuration could not be read; try again shortly",
  };
}
