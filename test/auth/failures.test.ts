import { ConfidentialClientApplication } from "@azure/msal-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPartnerCenterCredential } from "../../src/auth/credential.js";
import { AuthError, ConsentRequiredError, describeForbidden } from "../../src/auth/errors.js";
import {
  authorityFor,
  CHINA_NOT_OFFERED,
  PARTNER_CENTER_SCOPE,
  tokenExchangeScope,
} from "../../src/auth/options.js";
import { authLogin, authStatus, type CliIo } from "../../src/cli/authCommands.js";
import { startAuthFixture, type AuthFixture } from "../support/authFixture.js";

function captureIo(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => void lines.push(l), err: (l) => void errors.push(l) };
}

describe("authority and settings", () => {
  it("maps clouds to authorities and refuses China with a clear message", () => {
    expect(authorityFor("global", "contoso.onmicrosoft.com")).toBe(
      "https://login.microsoftonline.com/contoso.onmicrosoft.com",
    );
    expect(authorityFor("usgov", "t1")).toBe("https://login.microsoftonline.us/t1");
    expect(authorityFor("global", "t1", "https://127.0.0.1:8443/")).toBe("https://127.0.0.1:8443/t1");
    expect(() => authorityFor("china", "t1")).toThrow(CHINA_NOT_OFFERED);
    expect(() => authorityFor("global", "t1", "http://127.0.0.1:8443")).toThrow(/https/);
    expect(() => authorityFor("global", "a/b")).toThrow(/tenant/);
    expect(tokenExchangeScope("global")).toBe("api://AzureADTokenExchange/.default");
    expect(tokenExchangeScope("usgov")).toBe("api://AzureADTokenExchangeUSGov/.default");
  });

  it("gives the Partner Center client a 403 explanation", () => {
    expect(describeForbidden()).toMatch(
      /^Partner Center refused the token \(403\): the token must be a delegated \(App\+User\) token/,
    );
    expect(describeForbidden()).toContain("auth status");
  });
});

describe("failures against the simulator", () => {
  let fx: AuthFixture;
  beforeAll(async () => {
    fx = await startAuthFixture({ lockContainer: "auth-failure-locks" });
  });
  afterAll(async () => {
    await fx.close();
  });
  afterEach(() => {
    fx.registry.accessTokenLifetimeSeconds = 3600;
    fx.entra.requireMfaOnRefresh = false;
  });

  it("refuses China and a local authority outside local mode before any network call", () => {
    expect(() =>
      createPartnerCenterCredential(fx.options({ cloud: "china", authorityHost: undefined })),
    ).toThrow(CHINA_NOT_OFFERED);
    expect(() => createPartnerCenterCredential(fx.options({ localMode: false }))).toThrow(
      /only allowed with LOCAL_MODE=true/,
    );
  });

  it.each([
    ["revoked", "50173", (f: AuthFixture): void => void f.registry.revokeRefreshTokens()],
    ["expired", "700082", (f: AuthFixture): void => void f.registry.expireRefreshTokens()],
    ["MFA-required", "50079", (f: AuthFixture): void => void (f.entra.requireMfaOnRefresh = true)],
  ] as const)(
    "a %s refresh token ends in ConsentRequiredError naming auth login, and auth status exits 3",
    async (_label, aadsts, breakIt) => {
      fx.registry.accessTokenLifetimeSeconds = 1;
      await fx.consentWithAuthCode();
      const before = fx.vault.current(fx.tokenCacheSecretName)?.version;
      breakIt(fx);
      const error = await createPartnerCenterCredential(fx.options())
        .getToken(PARTNER_CENTER_SCOPE)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConsentRequiredError);
      expect(error).toMatchObject({ reason: "consent_required", aadsts });
      expect((error as Error).message).toBe(
        `Consent is needed: the stored Partner Center sign-in is no longer valid (AADSTS${aadsts}). Run: referrals-export remote consent (headless: referrals-export auth login --device-code)`,
      );
      // Nothing was written: the stored cache stays as it was.
      expect(fx.vault.current(fx.tokenCacheSecretName)?.version).toBe(before);

      const io = captureIo();
      expect(await authStatus(fx.options(), io)).toBe(3);
      expect(io.errors.join("\n")).toContain("auth login");
      expect(io.lines.join("\n")).toContain("cannot be obtained now");
    },
  );

  it("with no stored sign-in: ConsentRequiredError, and auth status exits 3", async () => {
    const options = fx.options({ tokenCacheSecretName: "never-consented" });
    const error = await createPartnerCenterCredential(options)
      .getToken(PARTNER_CENTER_SCOPE)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsentRequiredError);
    expect((error as Error).message).toContain("Run: referrals-export remote consent");
    const io = captureIo();
    expect(await authStatus(options, io)).toBe(3);
    expect(io.lines.join("\n")).toContain("(not stored)");
  });

  it("a wrong client secret is an app-credential AuthError, not a consent problem", async () => {
    fx.registry.accessTokenLifetimeSeconds = 1;
    await fx.consentWithAuthCode();
    fx.vault.seedSecret("wrong-client-secret", "not-the-secret");
    const options = fx.options({ credential: { kind: "secret", secretName: "wrong-client-secret" } });
    const error = await createPartnerCenterCredential(options)
      .getToken(PARTNER_CENTER_SCOPE)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).not.toBeInstanceOf(ConsentRequiredError);
    expect(error).toMatchObject({ reason: "app_credential", aadsts: "7000215" });
    const io = captureIo();
    expect(await authStatus(options, io)).toBe(1);
  });

  it("auth status exits 1 with a Key Vault message when the vault keeps failing", async () => {
    fx.vault.failNext(50, 503);
    try {
      const io = captureIo();
      expect(await authStatus(fx.options(), io)).toBe(1);
      expect(io.errors.join("\n")).toMatch(
        /Key Vault read of the token cache secret 'partner-center-token-cache' failed: HTTP 503/,
      );
    } finally {
      fx.vault.failNext(0);
    }
  });

  it("a missing client secret in Key Vault is reported by name", async () => {
    await fx.consentWithAuthCode();
    const options = fx.options({ credential: { kind: "secret", secretName: "no-such-secret" } });
    await expect(createPartnerCenterCredential(options).getToken(PARTNER_CENTER_SCOPE)).rejects.toThrow(
      /'no-such-secret'/,
    );
  });

  it("device code sign-in declined by the user exits 1 with the reason", async () => {
    fx.entra.deviceCodeApproval = "manual";
    try {
      const io = captureIo();
      const login = authLogin(fx.options(), { kind: "device-code" }, io);
      await vi_waitFor(() => io.lines.length > 0);
      fx.entra.declineDeviceCode();
      expect(await login).toBe(1);
      expect(io.errors.join("\n")).toContain("The sign-in request was declined");
    } finally {
      fx.entra.deviceCodeApproval = "after-first-poll";
    }
  });

  it("an app-only token (client credentials) is refused by the Partner Center verifier", async () => {
    const app = new ConfidentialClientApplication({
      auth: {
        clientId: fx.clientId,
        authority: `${fx.server.url}/${fx.tenantId}`,
        knownAuthorities: [new URL(fx.server.url).host],
        clientSecret: fx.clientSecret,
      },
    });
    const result = await app.acquireTokenByClientCredential({
      scopes: ["https://api.partnercenter.microsoft.com/.default"],
    });
    expect(fx.registry.verify(`Bearer ${result?.accessToken ?? ""}`)).toBe("app-only");
    expect(fx.registry.verify(undefined)).toBe("missing");
    expect(fx.registry.verify("Bearer not-a-token")).toBe("invalid");
  });
});

async function vi_waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
