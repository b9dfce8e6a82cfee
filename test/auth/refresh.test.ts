import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPartnerCenterCredential } from "../../src/auth/credential.js";
import { AuthError, ConsentRequiredError } from "../../src/auth/errors.js";
import { PARTNER_CENTER_SCOPE } from "../../src/auth/options.js";
import { startAuthFixture, type AuthFixture } from "../support/authFixture.js";

/** Refresh tokens held in a serialized MSAL cache. */
function refreshTokensIn(serialized: string | undefined): string[] {
  const parsed = JSON.parse(serialized ?? "{}") as { RefreshToken?: Record<string, { secret: string }> };
  return Object.values(parsed.RefreshToken ?? {}).map((entry) => entry.secret);
}

describe("silent refresh with the token cache in Key Vault", () => {
  let fx: AuthFixture;
  beforeAll(async () => {
    fx = await startAuthFixture({ lockContainer: "auth-refresh-locks" });
  });
  afterAll(async () => {
    await fx.close();
  });
  afterEach(() => {
    fx.registry.accessTokenLifetimeSeconds = 3600;
    fx.registry.revokeRotatedRefreshTokens = false;
    fx.vault.failNext(0);
    fx.entra.failNextTokenRequests(0);
  });

  it("refreshes an expired access token, writes the rotated refresh token back, and the next instance uses the newest", async () => {
    fx.registry.revokeRotatedRefreshTokens = true;
    fx.registry.accessTokenLifetimeSeconds = 1; // MSAL treats tokens this short as due for refresh
    await fx.consentWithAuthCode();
    const name = fx.tokenCacheSecretName;
    const consentVersion = fx.vault.current(name);
    const versionsBefore = fx.vault.versions(name).length;
    const grantsBefore = fx.registry.counters.refreshGrants;

    const first = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${first.token}`)).toBe("ok");
    expect(fx.registry.counters.refreshGrants).toBe(grantsBefore + 1);
    expect(fx.vault.versions(name).length).toBe(versionsBefore + 1);
    const afterFirst = fx.vault.current(name);
    expect(refreshTokensIn(afterFirst?.value)).not.toEqual(refreshTokensIn(consentVersion?.value));
    expect(afterFirst?.tags?.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The consent's refresh token was revoked on rotation: an old cache would now fail.
    const [oldRt] = refreshTokensIn(consentVersion?.value);
    expect(fx.registry.inspectRefreshToken(oldRt ?? "")).toMatchObject({ ok: false, reason: "revoked" });

    const third = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${third.token}`)).toBe("ok");
    expect(fx.registry.counters.refreshGrants).toBe(grantsBefore + 2);
    expect(fx.vault.versions(name).length).toBe(versionsBefore + 2);

    // A credential fed the consent-time cache fails as the design says it would without write-back.
    fx.vault.seedSecret("stale-token-cache", consentVersion?.value ?? "", {
      tags: { clientType: "confidential" },
    });
    const stale = createPartnerCenterCredential(fx.options({ tokenCacheSecretName: "stale-token-cache" }));
    await expect(stale.getToken(PARTNER_CENTER_SCOPE)).rejects.toMatchObject({
      reason: "consent_required",
      aadsts: "50173",
    });
  });

  it("serialises parallel refreshes from two instances with the blob lease, so both succeed and the newest cache is stored", async () => {
    fx.registry.revokeRotatedRefreshTokens = true;
    fx.registry.accessTokenLifetimeSeconds = 1;
    fx.registry.revokeRefreshTokens(); // earlier tests' sign-ins, so only this consent's chain is live
    await fx.consentWithAuthCode();
    const grantsBefore = fx.registry.counters.refreshGrants;
    const rejectedBefore = fx.registry.counters.refreshGrantsRejected;
    const a = createPartnerCenterCredential(fx.options());
    const b = createPartnerCenterCredential(fx.options());
    const [ta, tb] = await Promise.all([a.getToken(PARTNER_CENTER_SCOPE), b.getToken(PARTNER_CENTER_SCOPE)]);
    expect(fx.registry.verify(`Bearer ${ta.token}`)).toBe("ok");
    expect(fx.registry.verify(`Bearer ${tb.token}`)).toBe("ok");
    expect(fx.registry.counters.refreshGrants).toBe(grantsBefore + 2);
    expect(fx.registry.counters.refreshGrantsRejected).toBe(rejectedBefore);
    const stored = refreshTokensIn(fx.vault.current(fx.tokenCacheSecretName)?.value);
    expect(stored).toHaveLength(1);
    expect(fx.registry.inspectRefreshToken(stored[0] ?? "").ok).toBe(true);
    expect(fx.registry.liveRefreshTokenCount()).toBe(1);
    // Both started together, so one of them found the lease taken and waited for it.
    expect(fx.logs.some((l) => l.message.includes("token-cache lock is held by another worker"))).toBe(true);
  });

  it("serves a still-valid access token without a Key Vault write, and from memory without Key Vault or the lock", async () => {
    await fx.consentWithAuthCode();
    const writes = fx.vault.counters.writes;
    const tokenRequests = fx.entra.counters.tokenRequests;
    // Another worker holds the lock for the whole test: a valid token must not need it.
    const lockBlob = fx.lockContainer.getBlockBlobClient("token-cache.lock");
    await fx.lockContainer.createIfNotExists();
    await lockBlob.upload("", 0).catch(() => undefined);
    const foreign = lockBlob.getBlobLeaseClient();
    await foreign.acquireLease(60);
    try {
      const credential = createPartnerCenterCredential(fx.options());
      const first = await credential.getToken(PARTNER_CENTER_SCOPE);
      const reads = fx.vault.counters.reads;
      const second = await credential.getToken(PARTNER_CENTER_SCOPE);
      expect(second.token).toBe(first.token);
      expect(fx.vault.counters.reads).toBe(reads);
      expect(fx.vault.counters.writes).toBe(writes);
      expect(fx.entra.counters.tokenRequests).toBe(tokenRequests);
    } finally {
      await foreign.releaseLease();
    }
  });

  it("waits for the lock and fails with a lock error when the deadline passes", async () => {
    fx.registry.accessTokenLifetimeSeconds = 1;
    await fx.consentWithAuthCode();
    const lockBlob = fx.lockContainer.getBlockBlobClient("token-cache.lock");
    const foreign = lockBlob.getBlobLeaseClient();
    await foreign.acquireLease(60);
    try {
      const credential = createPartnerCenterCredential(fx.options({ timeoutMs: 1500 }));
      const error = await credential.getToken(PARTNER_CENTER_SCOPE).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthError);
      expect(error).toMatchObject({ reason: "lock" });
      expect((error as Error).message).toMatch(/token-cache lock/);
    } finally {
      await foreign.releaseLease();
    }
  });

  it("retries Key Vault 503s and dropped connections, then succeeds", async () => {
    await fx.consentWithAuthCode();
    fx.vault.failNext(2, 503);
    const token = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${token.token}`)).toBe("ok");
    expect(fx.vault.counters.faults).toBeGreaterThanOrEqual(2);

    fx.vault.failNext(2, "drop");
    const again = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${again.token}`)).toBe("ok");
  });

  it("retries token-endpoint 503s and dropped connections during a refresh", async () => {
    fx.registry.accessTokenLifetimeSeconds = 1;
    await fx.consentWithAuthCode();
    fx.entra.failNextTokenRequests(2, 503);
    const token = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${token.token}`)).toBe("ok");

    fx.entra.failNextTokenRequests(1, "drop");
    const again = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${again.token}`)).toBe("ok");
  });

  it("gives up on a token endpoint that stays down with a transient-failure AuthError, and keeps the stored cache", async () => {
    fx.registry.accessTokenLifetimeSeconds = 1;
    await fx.consentWithAuthCode();
    const before = fx.vault.current(fx.tokenCacheSecretName)?.version;
    fx.entra.failNextTokenRequests(50, 503);
    const error = await createPartnerCenterCredential(fx.options())
      .getToken(PARTNER_CENTER_SCOPE)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).not.toBeInstanceOf(ConsentRequiredError);
    expect(error).toMatchObject({ reason: "token_endpoint" });
    expect(fx.vault.current(fx.tokenCacheSecretName)?.version).toBe(before);
  });
});
