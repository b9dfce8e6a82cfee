import { createHash, randomUUID } from "node:crypto";
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyResult,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trustLocalCa } from "../../src/config/localTrust.js";
import type { MintApiTokenOptions } from "../../src/simulator/entraRoute.js";
import {
  LOCAL_API_CALLER_NONE_CLIENT_ID,
  LOCAL_API_CLIENT_ID,
  LOCAL_CLIENT_ID,
  LOCAL_CLIENT_SECRET_NAME,
  LOCAL_TENANT_ID,
  LOCAL_USER,
  startLocalCloud,
  type LocalApiCallerName,
  type LocalCloud,
} from "../../src/simulator/localCloud.js";

const API_SCOPE = `api://${LOCAL_API_CLIENT_ID}/.default`;

let cloud: LocalCloud;
let base: string;
let issuer: string;
let jwksUri: string;

beforeAll(async () => {
  cloud = await startLocalCloud({ rows: 10, seed: 4 });
  trustLocalCa(cloud.tls.caFile);
  base = `${cloud.url}/${LOCAL_TENANT_ID}`;
  const discovery = await fetch(`${base}/v2.0/.well-known/openid-configuration`);
  const config = (await discovery.json()) as { issuer: string; jwks_uri: string };
  issuer = config.issuer;
  jwksUri = config.jwks_uri;
});
afterAll(async () => {
  await cloud.close();
});

/** A key set as an API would build it: fetched from the announced jwks_uri, cached in the resolver. */
function keySet(): ReturnType<typeof createRemoteJWKSet> {
  return createRemoteJWKSet(new URL(jwksUri));
}

function verify(token: string, jwks = keySet()): Promise<JWTVerifyResult> {
  return jwtVerify(token, jwks, { issuer, audience: LOCAL_API_CLIENT_ID, algorithms: ["RS256"] });
}

async function postToken(form: Record<string, string>): Promise<Response> {
  return fetch(`${base}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
}

async function appToken(caller: LocalApiCallerName, scope = API_SCOPE): Promise<string> {
  const { clientId, clientSecret } = cloud.apiCallers[caller];
  const response = await postToken({
    grant_type: "client_credentials",
    client_id: clientId,
    client_secret: clientSecret,
    scope,
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { access_token: string; expires_in: number };
  expect(body.expires_in).toBe(3600);
  return body.access_token;
}

/** Authorize (auto-approved for LOCAL_USER) with PKCE, then redeem the code as the confidential client. */
async function delegatedTokens(scope: string): Promise<{ access_token: string; refresh_token: string }> {
  const verifier = randomUUID() + randomUUID();
  const redirectUri = "http://localhost:5998";
  const authorize = new URL(`${base}/oauth2/v2.0/authorize`);
  for (const [k, v] of Object.entries({
    client_id: LOCAL_CLIENT_ID,
    redirect_uri: redirectUri,
    response_type: "code",
    scope: `${scope} offline_access openid profile`,
    state: "st",
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  })) {
    authorize.searchParams.set(k, v);
  }
  const redirect = await fetch(authorize, { redirect: "manual" });
  expect(redirect.status).toBe(302);
  const code = new URL(redirect.headers.get("location") ?? "").searchParams.get("code") ?? "";
  const response = await postToken({
    grant_type: "authorization_code",
    client_id: LOCAL_CLIENT_ID,
    client_secret: cloud.vault.current(LOCAL_CLIENT_SECRET_NAME)?.value ?? "",
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string; refresh_token: string };
}

describe("the simulated tenant's signing keys", () => {
  it("serves the key set at the jwks_uri its discovery document announces", async () => {
    expect(jwksUri).toBe(`${base}/discovery/v2.0/keys`);
    const before = cloud.entra.counters.jwksRequests;
    const response = await fetch(jwksUri);
    expect(response.status).toBe(200);
    const { keys } = (await response.json()) as { keys: Record<string, string>[] };
    expect(keys).toHaveLength(1);
    expect(keys[0]).toEqual({
      kty: "RSA",
      n: expect.stringMatching(/^[A-Za-z0-9_-]{340,}$/),
      e: "AQAB",
      kid: expect.any(String),
      use: "sig",
      alg: "RS256",
    });
    expect(Object.keys(keys[0] ?? {})).not.toContain("d");
    expect(cloud.entra.counters.jwksRequests).toBe(before + 1);
    const otherTenant = await fetch(`${cloud.url}/${randomUUID()}/discovery/v2.0/keys`);
    expect(otherTenant.status).toBe(400);
  });
});

describe("app-only tokens for the product's API (client credentials)", () => {
  it.each([
    ["admin", ["Exports.Admin"]],
    ["runner", ["Exports.Run"]],
    ["reader", ["Exports.Read"]],
  ] as const)("the %s caller's token verifies and carries its role", async (caller, roles) => {
    const token = await appToken(caller);
    const { payload, protectedHeader } = await verify(token);
    const { keys } = (await (await fetch(jwksUri)).json()) as { keys: { kid: string }[] };
    expect(protectedHeader).toEqual({ alg: "RS256", typ: "JWT", kid: keys[0]?.kid });
    expect(payload).toMatchObject({
      aud: LOCAL_API_CLIENT_ID,
      iss: `${cloud.url}/${LOCAL_TENANT_ID}/v2.0`,
      tid: LOCAL_TENANT_ID,
      azp: cloud.apiCallers[caller].clientId,
      azpacr: "1",
      idtyp: "app",
      ver: "2.0",
      roles,
    });
    expect(payload.scp).toBeUndefined();
    expect(payload.oid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(payload.sub).toBe(payload.oid);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
    // The same application gets the same object id in every token.
    expect(decodeJwt(await appToken(caller)).oid).toBe(payload.oid);
  });

  it("gives the caller without a role assignment a token with no roles claim", async () => {
    const { payload } = await verify(await appToken("none"));
    expect(payload.azp).toBe(LOCAL_API_CALLER_NONE_CLIENT_ID);
    expect(payload).not.toHaveProperty("roles");
  });

  it("accepts the API named by its bare client id", async () => {
    const { payload } = await verify(await appToken("reader", `${LOCAL_API_CLIENT_ID}/.default`));
    expect(payload.roles).toEqual(["Exports.Read"]);
  });

  it("refuses a scope for an API the tenant does not have, naming the resource", async () => {
    const unknown = `api://${randomUUID()}`;
    const { clientId, clientSecret } = cloud.apiCallers.admin;
    const response = await postToken({
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: clientSecret,
      scope: `${unknown}/.default`,
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as {
      error: string;
      error_codes: number[];
      error_description: string;
    };
    expect(body.error).toBe("invalid_resource");
    expect(body.error_codes).toEqual([500011]);
    expect(body.error_description).toContain(
      `AADSTS500011: The resource principal named ${unknown} was not found in the tenant`,
    );
  });

  it("refuses an app role the API does not define and keeps the previous assignment", async () => {
    expect(() => {
      cloud.entra.assignApiRoles({ clientId: LOCAL_API_CALLER_NONE_CLIENT_ID }, LOCAL_API_CLIENT_ID, [
        "Exports.Read",
        "Exports.Delete",
      ]);
    }).toThrow(/no app role 'Exports\.Delete'/);
    const { payload } = await verify(await appToken("none"));
    expect(payload).not.toHaveProperty("roles");
  });
});

describe("delegated tokens for the product's API", () => {
  it("carries the user's roles and scp through authorization code + PKCE, and again after a refresh", async () => {
    const tokens = await delegatedTokens(`api://${LOCAL_API_CLIENT_ID}/user_impersonation`);
    const { payload } = await verify(tokens.access_token);
    expect(payload).toMatchObject({
      aud: LOCAL_API_CLIENT_ID,
      oid: LOCAL_USER.oid,
      azp: LOCAL_CLIENT_ID,
      azpacr: "1",
      scp: "user_impersonation",
      roles: ["Exports.Admin"],
      name: LOCAL_USER.name,
      preferred_username: LOCAL_USER.username,
      ver: "2.0",
    });
    expect(payload).not.toHaveProperty("idtyp");
    expect(payload.sub).not.toBe(LOCAL_USER.oid);

    const refreshed = await postToken({
      grant_type: "refresh_token",
      client_id: LOCAL_CLIENT_ID,
      client_secret: cloud.vault.current(LOCAL_CLIENT_SECRET_NAME)?.value ?? "",
      refresh_token: tokens.refresh_token,
    });
    expect(refreshed.status).toBe(200);
    const again = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect(again.refresh_token).toMatch(/^sim-rt\./);
    const second = await verify(again.access_token);
    expect(second.payload).toMatchObject({ scp: "user_impersonation", roles: ["Exports.Admin"] });
    expect(second.payload.uti).not.toBe(payload.uti);
  });

  it("gives a public client's device code sign-in with .default the user_impersonation scope", async () => {
    const start = await fetch(`${base}/oauth2/v2.0/devicecode`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: LOCAL_CLIENT_ID, scope: `${API_SCOPE} offline_access` }),
    });
    const { device_code } = (await start.json()) as { device_code: string };
    const poll = (): Promise<Response> =>
      postToken({
        grant_type: "urn:ietf:params:oauth:grant-type:device_code",
        client_id: LOCAL_CLIENT_ID,
        device_code,
      });
    expect(((await (await poll()).json()) as { error: string }).error).toBe("authorization_pending");
    const approved = await poll();
    expect(approved.status).toBe(200);
    const { payload } = await verify(((await approved.json()) as { access_token: string }).access_token);
    expect(payload).toMatchObject({ scp: "user_impersonation", azpacr: "0", roles: ["Exports.Admin"] });
  });
});

describe("tokens minted with flaws fail verification", () => {
  async function mint(options: Partial<MintApiTokenOptions>): Promise<string> {
    return cloud.entra.mintApiToken({ apiClientId: LOCAL_API_CLIENT_ID, kind: "user", ...options });
  }

  it("verifies a minted token without flaws (the control)", async () => {
    const { payload } = await verify(await mint({}));
    expect(payload).toMatchObject({ roles: ["Exports.Admin"], scp: "user_impersonation" });
    const app = await verify(
      await mint({ kind: "app", clientId: cloud.apiCallers.runner.clientId, roles: ["Exports.Read"] }),
    );
    expect(app.payload).toMatchObject({ idtyp: "app", roles: ["Exports.Read"] });
  });

  it.each<[string, Partial<MintApiTokenOptions>, new (...args: never[]) => Error, string, string?]>([
    ["expired", { lifetimeSeconds: -120 }, errors.JWTExpired, "ERR_JWT_EXPIRED", "exp"],
    [
      "not yet valid",
      { notBeforeInSeconds: 600 },
      errors.JWTClaimValidationFailed,
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
      "nbf",
    ],
    [
      "from another issuer",
      { issuer: "https://login.microsoftonline.com/common/v2.0" },
      errors.JWTClaimValidationFailed,
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
      "iss",
    ],
    [
      "from another tenant",
      { tenantId: randomUUID() },
      errors.JWTClaimValidationFailed,
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
      "iss",
    ],
    [
      "for another audience",
      { audience: randomUUID() },
      errors.JWTClaimValidationFailed,
      "ERR_JWT_CLAIM_VALIDATION_FAILED",
      "aud",
    ],
    ["signed with HS256", { algorithm: "HS256" }, errors.JOSEAlgNotAllowed, "ERR_JOSE_ALG_NOT_ALLOWED"],
    ["unsigned (alg none)", { algorithm: "none" }, errors.JOSEAlgNotAllowed, "ERR_JOSE_ALG_NOT_ALLOWED"],
    [
      "signed with an unpublished key",
      { key: "unpublished" },
      errors.JWKSNoMatchingKey,
      "ERR_JWKS_NO_MATCHING_KEY",
    ],
  ])("refuses a token %s", async (_what, options, errorClass, code, claim) => {
    const error = await verify(await mint(options)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toMatchObject(claim === undefined ? { code } : { code, claim });
  });

  it("shapes HS256 and unsigned tokens as the attacks they stand for", async () => {
    const hs = decodeProtectedHeader(await mint({ algorithm: "HS256" }));
    const { keys } = (await (await fetch(jwksUri)).json()) as { keys: { kid: string }[] };
    expect(hs).toEqual({ alg: "HS256", typ: "JWT", kid: keys[0]?.kid });
    const none = await mint({ algorithm: "none" });
    expect(decodeProtectedHeader(none)).toEqual({ alg: "none" });
    expect(none.endsWith(".")).toBe(true);
    // Without an algorithm allow-list the remote key set still refuses a symmetric algorithm.
    await expect(
      jwtVerify(await mint({ algorithm: "HS256" }), keySet(), { issuer, audience: LOCAL_API_CLIENT_ID }),
    ).rejects.toBeInstanceOf(errors.JOSENotSupported);
  });

  it("leaves kid out when asked", async () => {
    expect(decodeProtectedHeader(await mint({ omitKid: true }))).toEqual({ alg: "RS256", typ: "JWT" });
  });
});

describe("signing key rotation", () => {
  it("keeps the previous key published when asked, and withdraws it otherwise", async () => {
    const before = await appToken("reader");
    const beforeKid = decodeProtectedHeader(before).kid;

    const keptKid = await cloud.entra.rotateSigningKey({ keepPrevious: true });
    expect(keptKid).not.toBe(beforeKid);
    const both = (await (await fetch(jwksUri)).json()) as { keys: { kid: string }[] };
    expect(both.keys.map((k) => k.kid).sort()).toEqual([beforeKid, keptKid].sort());
    await expect(verify(before)).resolves.toBeDefined();

    const newKid = await cloud.entra.rotateSigningKey({ keepPrevious: false });
    const fresh = keySet();
    const error = await verify(before, fresh).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(errors.JWKSNoMatchingKey);
    const after = await appToken("reader");
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    const { payload }: { payload: JWTPayload } = await verify(after, fresh);
    expect(payload.roles).toEqual(["Exports.Read"]);
    const only = (await (await fetch(jwksUri)).json()) as { keys: { kid: string }[] };
    expect(only.keys.map((k) => k.kid)).toEqual([newKid]);
  });
});
