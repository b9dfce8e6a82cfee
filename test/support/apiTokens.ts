import { randomUUID } from "node:crypto";
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from "jose";
import { apiTokenValidator, type ApiRole, type ApiTokenValidator } from "../../src/functions/apiToken.js";

/** A tenant of its own for handler tests: tokens signed here verify with `testApiTokens()`. */
export const TEST_TENANT_ID = "0b7c2d4e-1f3a-4b5c-8d6e-7f8a9b0c1d2e";
export const TEST_API_CLIENT_ID = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8";
export const TEST_ISSUER = `https://login.microsoftonline.com/${TEST_TENANT_ID}/v2.0`;

const keyPair = await generateKeyPair("RS256", { extractable: true });
const publicJwk = { ...(await exportJWK(keyPair.publicKey)), kid: "test-key-1", alg: "RS256", use: "sig" };

/** The validator the app uses, over this module's key set instead of one fetched from Entra ID. */
export function testApiTokens(): ApiTokenValidator {
  return apiTokenValidator({
    issuer: TEST_ISSUER,
    tenantId: TEST_TENANT_ID,
    audiences: [TEST_API_CLIENT_ID, `api://${TEST_API_CLIENT_ID}`],
    keys: createLocalJWKSet({ keys: [publicJwk] }),
    scope: `api://${TEST_API_CLIENT_ID}/.default`,
  });
}

export interface TestTokenOptions {
  readonly kind?: "user" | "app";
  readonly claims?: JWTPayload;
  readonly lifetimeSeconds?: number;
}

/** A signed access token for the test API carrying `roles`. */
export async function apiToken(
  roles: readonly ApiRole[] | readonly string[],
  options: TestTokenOptions = {},
) {
  const now = Math.floor(Date.now() / 1000);
  const kind = options.kind ?? "user";
  return (
    new SignJWT({
      tid: TEST_TENANT_ID,
      oid: kind === "user" ? "11111111-2222-4333-8444-555555555555" : "66666666-7777-4888-9999-000000000000",
      azp: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
      ver: "2.0",
      uti: randomUUID(),
      ...(roles.length > 0 ? { roles: [...roles] } : {}),
      ...(kind === "user"
        ? { scp: "user_impersonation", preferred_username: "analyst@contoso.example" }
        : { idtyp: "app" }),
      ...options.claims,
    })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: "test-key-1" })
      .setIssuedAt(now)
      .setExpirationTime(now + (options.lifetimeSeconds ?? 3600))
      // Claims given by a test win over the defaults.
      .setIssuer(options.claims?.iss ?? TEST_ISSUER)
      .setAudience((options.claims?.aud as string | undefined) ?? TEST_API_CLIENT_ID)
      .setNotBefore(options.claims?.nbf ?? now)
      .sign(keyPair.privateKey)
  );
}

/** `{ authorization: "Bearer ..." }` for a caller with these roles (default: every role). */
export async function authHeaders(
  roles: readonly ApiRole[] = ["Exports.Admin"],
  options: TestTokenOptions = {},
): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await apiToken(roles, options)}` };
}

/**
 * A token from a simulated Entra ID for one of its caller apps (client credentials), as a deployed
 * caller would get one. The simulator's CA must be trusted (trustLocalCa) by this process.
 */
export async function simulatorApiToken(
  simulatorUrl: string,
  caller: { readonly clientId: string; readonly clientSecret: string },
  tenantId = "7d2f4c1a-3b5e-4f60-9a8b-0c1d2e3f4a5b",
  apiClientId = "c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f",
): Promise<string> {
  const response = await fetch(`${simulatorUrl}/${tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: caller.clientId,
      client_secret: caller.clientSecret,
      scope: `api://${apiClientId}/.default`,
    }).toString(),
  });
  if (!response.ok) throw new Error(`simulated token endpoint answered ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
