import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPartnerCenterCredential } from "../../src/auth/credential.js";
import { PARTNER_CENTER_SCOPE } from "../../src/auth/options.js";
import { authLogin, authStatus, type CliIo } from "../../src/cli/authCommands.js";
import { accountOf } from "../../src/auth/cachePlugin.js";
import { TOKEN_CACHE_CONTENT_TYPE } from "../../src/auth/keyVaultStore.js";
import { FIXTURE_USER, startAuthFixture, type AuthFixture } from "../support/authFixture.js";

function captureIo(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => void lines.push(l), err: (l) => void errors.push(l) };
}

describe("consent flows against the simulator", () => {
  let fx: AuthFixture;
  beforeAll(async () => {
    fx = await startAuthFixture({ lockContainer: "auth-consent-locks" });
  });
  afterAll(async () => {
    await fx.close();
  });

  it("device code consent stores the cache in Key Vault and a fresh credential gets a delegated token silently", async () => {
    const io = captureIo();
    const code = await authLogin(fx.options(), { kind: "device-code" }, io);
    expect(code).toBe(0);
    expect(io.lines[0]).toMatch(/open the page https:\/\/127\.0\.0\.1:\d+\/devicelogin and enter the code/);
    expect(io.lines.join("\n")).toContain(`Signed in as ${FIXTURE_USER.username}`);

    const stored = fx.vault.current(fx.tokenCacheSecretName);
    expect(stored?.contentType).toBe(TOKEN_CACHE_CONTENT_TYPE);
    expect(stored?.tags).toMatchObject({
      account: FIXTURE_USER.username,
      consentFlow: "device-code",
      clientType: "public",
    });
    expect(accountOf(stored?.value ?? "")).toBe(FIXTURE_USER.username);
    expect(Buffer.byteLength(stored?.value ?? "")).toBeLessThan(25 * 1024);

    const grantsBefore = fx.entra.counters.tokenRequests;
    const token = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${token.token}`)).toBe("ok");
    // The consent's access token was still valid: served from the stored cache, no token request.
    expect(fx.entra.counters.tokenRequests).toBe(grantsBefore);
  });

  it("auth code + PKCE consent over the loopback redirect stores a confidential-client cache", async () => {
    const outcome = await fx.consentWithAuthCode();
    expect(outcome).toMatchObject({
      username: FIXTURE_USER.username,
      consentFlow: "auth-code",
      clientType: "confidential",
    });
    const authorize = fx.entra.authorizeRequests.at(-1);
    expect(authorize?.codeChallengeMethod).toBe("S256");
    expect(authorize?.redirectUri).toMatch(/^http:\/\/localhost:\d+$/);
    expect(fx.vault.current(fx.tokenCacheSecretName)?.tags).toMatchObject({
      consentFlow: "auth-code",
      clientType: "confidential",
    });

    const token = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${token.token}`)).toBe("ok");
  });

  it("auth status reports the account and that a token can be obtained, without printing tokens", async () => {
    const io = captureIo();
    expect(await authStatus(fx.options(), io)).toBe(0);
    const text = io.lines.join("\n");
    expect(text).toContain(`Account:        ${FIXTURE_USER.username}`);
    expect(text).toContain(`Tenant:         ${fx.tenantId}`);
    expect(text).toContain("Cloud:          global");
    expect(text).toMatch(/Last refreshed: \d{4}-\d\d-\d\dT/);
    expect(text).toContain("can be obtained now");
    for (const secret of fx.registry.issuedTokenStrings()) expect(text).not.toContain(secret);
  });
});
