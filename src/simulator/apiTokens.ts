import { createHash, randomBytes } from "node:crypto";
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from "jose";
import type { SimulatedUser } from "./tokenRegistry.js";

/** An API app registration of the simulated tenant (an app that "exposes an API" and defines app roles). */
export interface SimulatedApi {
  /** Application (client) id, a GUID; the `aud` of its access tokens. */
  readonly clientId: string;
  /** Application id URI, `api://<clientId>`. */
  readonly identifierUri: string;
  /** Values of the app roles it defines. */
  readonly roles: readonly string[];
}

/** Who holds app roles of an API: a user (delegated tokens) or a client application (app-only tokens). */
export type ApiPrincipal = { readonly userOid: string } | { readonly clientId: string };

/** One published signing key of the tenant, as its key set serves it. */
export interface PublishedSigningKey {
  readonly kty: string;
  readonly n: string;
  readonly e: string;
  readonly kid: string;
  readonly use: "sig";
  readonly alg: "RS256";
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: PublishedSigningKey;
  published: boolean;
}

/** The delegated scope a `.default` request gets (the scope Entra's portal creates for an exposed API). */
export const DEFAULT_API_SCOPE = "user_impersonation";

async function newSigningKey(): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk: JWK = await exportJWK(publicKey);
  if (jwk.n === undefined || jwk.e === undefined || jwk.kty === undefined) {
    throw new Error("exported RSA public key lacks n or e");
  }
  // Entra's kids are key thumbprints; the RFC 7638 thumbprint is stable and unique per key.
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, n: jwk.n, e: jwk.e });
  return {
    kid,
    privateKey,
    publicJwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, use: "sig", alg: "RS256" },
    published: true,
  };
}

/**
 * The tenant's token-signing keys: one current key that signs, plus earlier keys still published
 * (Entra publishes several keys so tokens signed before a rotation keep verifying). Keys are made on
 * first use, since RSA key generation is asynchronous and most simulator uses never need one.
 */
export class SigningKeySet {
  private keys: Promise<SigningKey[]> | undefined;

  private all(): Promise<SigningKey[]> {
    this.keys ??= newSigningKey().then((key) => [key]);
    return this.keys;
  }

  /** The key that signs new tokens. */
  async current(): Promise<SigningKey> {
    const keys = await this.all();
    const key = keys.at(-1);
    if (!key) throw new Error("the signing key set is empty");
    return key;
  }

  /** The key set document served at the tenant's `jwks_uri`, newest key first. */
  async published(): Promise<{ keys: PublishedSigningKey[] }> {
    const keys = await this.all();
    return {
      keys: keys
        .filter((k) => k.published)
        .reverse()
        .map((k) => k.publicJwk),
    };
  }

  /** Makes a new current key; the previous ones stay published only with `keepPrevious`. Returns the new kid. */
  async rotate(keepPrevious: boolean): Promise<string> {
    // Chained on the current promise so concurrent rotations apply one after the other.
    const next = this.all().then(async (keys) => {
      const key = await newSigningKey();
      if (!keepPrevious) for (const old of keys) old.published = false;
      return [...keys, key];
    });
    this.keys = next;
    return (await next).at(-1)?.kid ?? "";
  }
}

/** The API registrations of the tenant and who holds which of their app roles. */
export class ApiDirectory {
  private readonly apis = new Map<string, SimulatedApi>();
  /** `${apiClientId}|user:${oid}` or `${apiClientId}|app:${clientId}` -> role values. */
  private readonly assignments = new Map<string, readonly string[]>();

  add(api: SimulatedApi): void {
    this.apis.set(api.clientId.toLowerCase(), api);
  }

  /** The API a resource names, by application id URI or by client id. */
  find(resource: string): SimulatedApi | undefined {
    const wanted = resource.toLowerCase();
    const byId = this.apis.get(wanted);
    if (byId) return byId;
    return [...this.apis.values()].find((api) => api.identifierUri.toLowerCase() === wanted);
  }

  /** Replaces the principal's roles for the API; every value must be one of the API's app roles. */
  assign(principal: ApiPrincipal, apiClientId: string, roles: readonly string[]): void {
    const api = this.apis.get(apiClientId.toLowerCase());
    if (!api) throw new Error(`No API with client id '${apiClientId}' is registered in the simulated tenant`);
    const unknown = roles.filter((role) => !api.roles.includes(role));
    if (unknown.length > 0) {
      throw new Error(
        `API '${api.identifierUri}' defines no app role ${unknown.map((r) => `'${r}'`).join(", ")} (it defines ${api.roles.map((r) => `'${r}'`).join(", ") || "none"})`,
      );
    }
    this.assignments.set(assignmentKey(principal, api.clientId), [...new Set(roles)]);
  }

  rolesOf(principal: ApiPrincipal, apiClientId: string): readonly string[] {
    return this.assignments.get(assignmentKey(principal, apiClientId)) ?? [];
  }
}

function assignmentKey(principal: ApiPrincipal, apiClientId: string): string {
  const who = "userOid" in principal ? `user:${principal.userOid}` : `app:${principal.clientId}`;
  return `${apiClientId.toLowerCase()}|${who.toLowerCase()}`;
}

/** A stable object id (GUID-shaped) for a client application's service principal. */
export function servicePrincipalObjectId(clientId: string): string {
  const hex = createHash("sha256").update(`service-principal:${clientId.toLowerCase()}`).digest("hex");
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    `4${hex.slice(13, 16)}`,
    `${((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}`,
    hex.slice(20, 32),
  ].join("-");
}

/** How the calling client proved itself: `azpacr` 0 (public client), 1 (secret), 2 (certificate/assertion). */
export type ClientAuthentication = "0" | "1" | "2";

export interface ApiTokenClaimsInput {
  readonly apiClientId: string;
  readonly tenantId: string;
  readonly issuer: string;
  /** The calling client (`azp`). */
  readonly clientId: string;
  readonly clientAuthentication: ClientAuthentication;
  /** The signed-in user of a delegated token; absent for an app-only token. */
  readonly user?: SimulatedUser;
  /** Scope names of a delegated token (`scp`). */
  readonly scopes?: readonly string[];
  readonly roles: readonly string[];
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  readonly notBefore: number;
  readonly expiresAt: number;
}

/** The claims of an Entra ID v2.0 access token for one of the tenant's APIs. */
export function apiTokenClaims(input: ApiTokenClaimsInput): JWTPayload {
  const oid = input.user?.oid ?? servicePrincipalObjectId(input.clientId);
  const claims: JWTPayload = {
    aud: input.apiClientId,
    iss: input.issuer,
    iat: input.issuedAt,
    nbf: input.notBefore,
    exp: input.expiresAt,
    azp: input.clientId,
    azpacr: input.clientAuthentication,
    oid,
    // A user's `sub` is pairwise (per user and API); an application's is its object id.
    sub: input.user
      ? createHash("sha256")
          .update(`${input.user.oid}:${input.apiClientId.toLowerCase()}`)
          .digest("base64url")
      : oid,
    tid: input.tenantId,
    uti: randomBytes(16).toString("base64url"),
    ver: "2.0",
  };
  if (input.roles.length > 0) claims.roles = [...input.roles];
  if (input.user) {
    claims.scp = (input.scopes && input.scopes.length > 0 ? input.scopes : [DEFAULT_API_SCOPE]).join(" ");
    claims.name = input.user.name;
    claims.preferred_username = input.user.username;
  } else {
    claims.idtyp = "app";
  }
  return claims;
}

/** Signs API access token claims with the tenant's current key. */
export async function signApiToken(keys: SigningKeySet, claims: JWTPayload): Promise<string> {
  const key = await keys.current();
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid })
    .sign(key.privateKey);
}

/** A token for an API with chosen flaws, so the API's validator can be tested against each. */
export interface MintApiTokenOptions {
  readonly apiClientId: string;
  /** A delegated token for the tenant's user, or an app-only token for `clientId`. */
  readonly kind: "user" | "app";
  /** Default: the principal's assigned roles for the API. */
  readonly roles?: readonly string[];
  /** The calling client (`azp`; for `app` also the role holder). Default: the API's own client id. */
  readonly clientId?: string;
  /** Default: the registry's access-token lifetime. Negative: expired that many seconds ago. */
  readonly lifetimeSeconds?: number;
  /** Seconds until the token becomes valid (`nbf` in the future). Default 0. */
  readonly notBeforeInSeconds?: number;
  /** Default: the tenant's v2.0 issuer. */
  readonly issuer?: string;
  /** Default: the API's client id. */
  readonly audience?: string;
  /** `tid`, and the tenant of the default issuer. Default: the simulated tenant. */
  readonly tenantId?: string;
  /** Default RS256. HS256 signs with a random shared secret; `none` leaves the token unsigned. */
  readonly algorithm?: "RS256" | "HS256" | "none";
  /** `unpublished`: sign with a fresh key whose public half the key set never serves. Default `current`. */
  readonly key?: "current" | "unpublished";
  /** Leave `kid` out of the header. */
  readonly omitKid?: boolean;
  /** Claims added last (they override the computed ones). */
  readonly extraClaims?: Readonly<Record<string, unknown>>;
}

export interface MintContext {
  readonly keys: SigningKeySet;
  readonly directory: ApiDirectory;
  readonly tenantId: string;
  /** Origin of the simulated Entra ID, e.g. `https://127.0.0.1:PORT`. */
  readonly origin: string;
  readonly user: SimulatedUser;
  readonly defaultLifetimeSeconds: number;
}

export async function mintApiToken(context: MintContext, options: MintApiTokenOptions): Promise<string> {
  const tenantId = options.tenantId ?? context.tenantId;
  const clientId = options.clientId ?? options.apiClientId;
  const user = options.kind === "user" ? context.user : undefined;
  const principal: ApiPrincipal = user ? { userOid: user.oid } : { clientId };
  const now = Math.floor(Date.now() / 1000);
  const lifetime = options.lifetimeSeconds ?? context.defaultLifetimeSeconds;
  const notBefore = now + (options.notBeforeInSeconds ?? 0);
  // An expired token was issued a full default lifetime before it expired, as a real one would be.
  const expiresAt = lifetime < 0 ? now + lifetime : notBefore + lifetime;
  const issuedAt = lifetime < 0 ? expiresAt - context.defaultLifetimeSeconds : now;
  const claims: JWTPayload = {
    ...apiTokenClaims({
      apiClientId: options.apiClientId,
      tenantId,
      issuer: options.issuer ?? `${context.origin}/${tenantId}/v2.0`,
      clientId,
      clientAuthentication: "1",
      ...(user ? { user } : {}),
      roles: options.roles ?? context.directory.rolesOf(principal, options.apiClientId),
      issuedAt,
      notBefore: lifetime < 0 ? issuedAt : notBefore,
      expiresAt,
    }),
    ...(options.audience !== undefined ? { aud: options.audience } : {}),
    ...options.extraClaims,
  };
  const algorithm = options.algorithm ?? "RS256";
  if (algorithm === "none") return new UnsecuredJWT(claims).encode();
  const current = await context.keys.current();
  if (algorithm === "HS256") {
    // The published key's kid on a symmetric token: the shape of an algorithm-confusion attempt.
    const header = options.omitKid
      ? { alg: "HS256", typ: "JWT" }
      : { alg: "HS256", typ: "JWT", kid: current.kid };
    return new SignJWT(claims).setProtectedHeader(header).sign(randomBytes(32));
  }
  const key = options.key === "unpublished" ? await newSigningKey() : current;
  const header = options.omitKid ? { alg: "RS256", typ: "JWT" } : { alg: "RS256", typ: "JWT", kid: key.kid };
  return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
}
