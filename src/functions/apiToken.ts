import { createRemoteJWKSet, errors as jose, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";

/** The app roles of the API's app registration, from least to most. */
export const API_ROLES = ["Exports.Read", "Exports.Run", "Exports.Admin"] as const;
export type ApiRole = (typeof API_ROLES)[number];

/** Each role grants itself and the roles below it: an admin may run, a runner may read. */
const GRANTS: Readonly<Record<ApiRole, readonly ApiRole[]>> = {
  "Exports.Read": ["Exports.Read"],
  "Exports.Run": ["Exports.Run", "Exports.Read"],
  "Exports.Admin": ["Exports.Admin", "Exports.Run", "Exports.Read"],
};

/** Who called, from a validated token. */
export interface Caller {
  /** `user` for delegated tokens (they carry `scp`), `app` for app-only tokens. */
  readonly kind: "user" | "app";
  /** The principal's object id in the tenant (`oid`). */
  readonly objectId: string;
  /** The client application the token was issued to (`azp`). */
  readonly clientId: string;
  /** `preferred_username` or `name` when the token carries one. */
  readonly name?: string;
  /** The roles the token carries (as assigned). */
  readonly assignedRoles: readonly ApiRole[];
  /** Those roles and everything they grant. */
  readonly roles: ReadonlySet<ApiRole>;
}

export type TokenCheck =
  | { readonly ok: true; readonly caller: Caller }
  | {
      readonly ok: false;
      /** 401 for a missing or refused token; 503 when the tenant's keys could not be fetched. */
      readonly status: 401 | 503;
      /** RFC 6750 error code, absent when no token was sent at all. */
      readonly error?: "invalid_request" | "invalid_token";
      /** One sentence saying what is wrong; never quotes the token. */
      readonly description: string;
    };

export interface ApiTokenValidator {
  /** The scope callers ask Entra ID for (named in 401 challenges), when known. */
  readonly scope?: string;
  check(authorization: string | null): Promise<TokenCheck>;
}

export interface ApiTokenRules {
  /** Accepted `iss`: the tenant's v2.0 issuer. */
  readonly issuer: string;
  /** Accepted `aud` values. */
  readonly audiences: readonly string[];
  /** The tenant's id, matched against `tid`. */
  readonly tenantId: string;
  /** Signing keys; a remote key set in production. */
  readonly keys: JWTVerifyGetKey;
  /** Allowed clock difference for `exp` and `nbf`. */
  readonly clockToleranceSeconds?: number;
  /** The scope callers ask for, e.g. `api://<client id>/.default`. */
  readonly scope?: string;
}

/** Entra ID access tokens are RS256; anything else (HS256, none, ...) is refused outright. */
const ALGORITHMS = ["RS256"];
/** Entra tokens are a few kilobytes; a larger header is not a token worth parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 60;

/** Checks bearer tokens in process: signature, issuer, audience, tenant, lifetime and roles. */
export function apiTokenValidator(rules: ApiTokenRules): ApiTokenValidator {
  return {
    ...(rules.scope ? { scope: rules.scope } : {}),
    async check(authorization) {
      if (authorization === null || authorization.trim() === "")
        return { ok: false, status: 401, description: "This API needs a bearer token" };
      const match = /^Bearer +([A-Za-z0-9\-_.~+/]+=*) *$/i.exec(authorization);
      if (!match?.[1])
        return {
          ok: false,
          status: 401,
          error: "invalid_request",
          description: "The Authorization header must be 'Bearer <access token>'",
        };
      const token = match[1];
      if (token.length > MAX_TOKEN_LENGTH)
        return { ok: false, status: 401, error: "invalid_token", description: "The token is too long" };
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, rules.keys, {
          algorithms: ALGORITHMS,
          issuer: rules.issuer,
          audience: [...rules.audiences],
          clockTolerance: rules.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ["exp", "nbf", "iat", "tid", "oid", "azp"],
        }));
      } catch (error) {
        return refusal(error, rules);
      }
      if (payload.tid !== rules.tenantId) return invalidToken("The token was issued for another tenant");
      return { ok: true, caller: callerOf(payload) };
    },
  };
}

function callerOf(payload: JWTPayload): Caller {
  const claimed = Array.isArray(payload.roles) ? (payload.roles as unknown[]) : [];
  const assignedRoles = API_ROLES.filter((role) => claimed.includes(role));
  const name = [payload.preferred_username, payload.name].find((v) => typeof v === "string" && v !== "");
  return {
    kind: typeof payload.scp === "string" ? "user" : "app",
    objectId: String(payload.oid),
    clientId: String(payload.azp),
    ...(typeof name === "string" ? { name } : {}),
    assignedRoles,
    roles: new Set(assignedRoles.flatMap((role) => GRANTS[role])),
  };
}

function invalidToken(description: string): TokenCheck {
  return { ok: false, status: 401, error: "invalid_token", description };
}

/** What was wrong with a token, in words a caller can act on. */
function refusal(error: unknown, rules: ApiTokenRules): TokenCheck {
  if (error instanceof jose.JWTExpired) return invalidToken("The token has expired; get a new one");
  if (error instanceof jose.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "iss":
        return invalidToken(`The token was not issued by this tenant's Entra ID (expected ${rules.issuer})`);
      case "aud":
        return invalidToken(
          `The token is for another API; ask for scope ${rules.audiences.find((a) => a.startsWith("api://")) ?? rules.audiences[0]}/.default`,
        );
      case "nbf":
        return invalidToken("The token is not valid yet (nbf is in the future)");
      default:
        return invalidToken(`The token's '${error.claim}' claim is missing or not accepted`);
    }
  }
  if (error instanceof jose.JOSEAlgNotAllowed)
    return invalidToken("The token's signing algorithm is not accepted (RS256 only)");
  if (error instanceof jose.JWKSNoMatchingKey)
    return invalidToken("The token is signed with a key this tenant does not publish");
  if (error instanceof jose.JWSSignatureVerificationFailed)
    return invalidToken("The token's signature does not verify");
  if (
    error instanceof jose.JWKSTimeout ||
    error instanceof jose.JWKSInvalid ||
    !(error instanceof jose.JOSEError)
  )
    // The key set could not be fetched or read: nothing is wrong with the caller's token.
    return {
      ok: false,
      status: 503,
      description: "The tenant's token signing keys could not be fetched; try again shortly",
    };
  return invalidToken("The token is not a well-formed signed JWT");
}

export interface EntraKeySource {
  /** e.g. https://login.microsoftonline.com (or the simulator's origin in local mode). */
  readonly authorityHost: string;
  /** Tenant id or verified domain name. */
  readonly tenant: string;
}

/**
 * The tenant's issuer and key set, from its OpenID configuration (so a tenant given by domain
 * name still yields the GUID issuer its tokens carry). The key set is refetched when a token names
 * a key it does not hold (Entra's key rollover), at most once per cooldown.
 */
export async function discoverTenantKeys(
  source: EntraKeySource,
  /** Least time between two fetches of the key set for an unknown key id. */
  cooldownMs = 30_000,
): Promise<{ issuer: string; tenantId: string; keys: JWTVerifyGetKey }> {
  const origin = new URL(source.authorityHost).origin;
  const url = `${origin}/${encodeURIComponent(source.tenant)}/v2.0/.well-known/openid-configuration`;
  const response = await fetch(url, { redirect: "error", signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const config = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (typeof config.issuer !== "string" || typeof config.jwks_uri !== "string")
    throw new Error(`${url} has no issuer or jwks_uri`);
  const jwksUri = new URL(config.jwks_uri);
  // The keys must come from the same Entra ID that was asked, never from elsewhere.
  if (jwksUri.origin !== origin || new URL(config.issuer).origin !== origin)
    throw new Error(`${url} names keys or an issuer outside ${origin}`);
  const tenantId = /^[^/]+\/\/[^/]+\/([^/]+)\/v2\.0$/.exec(config.issuer)?.[1];
  if (!tenantId) throw new Error(`${url} names an issuer that is not a v2.0 tenant issuer`);
  return {
    issuer: config.issuer,
    tenantId,
    keys: createRemoteJWKSet(jwksUri, {
      timeoutDuration: 10_000,
      cooldownDuration: cooldownMs,
      cacheMaxAge: 3_600_000,
    }),
  };
}
