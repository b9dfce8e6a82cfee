import tls from "node:tls";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificateBundle } from "../../src/auth/certificate.js";
import { createPartnerCenterCredential } from "../../src/auth/credential.js";
import { AuthError } from "../../src/auth/errors.js";
import { createKeyVaultCredential } from "../../src/auth/keyVaultCredential.js";
import { PARTNER_CENTER_SCOPE } from "../../src/auth/options.js";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import { startAuthFixture, type AuthFixture } from "../support/authFixture.js";

async function rsaCertificatePem(commonName: string): Promise<{ pem: string; cert: string }> {
  const generated = await generate([{ name: "commonName", value: commonName }], {
    keySize: 2048,
    algorithm: "sha256",
  });
  return { pem: `${generated.private}\n${generated.cert}`, cert: generated.cert };
}

/** Stands in for the managed identity: hands out a JWT-shaped assertion and records the scopes asked. */
class FakeAssertionSource implements TokenCredential {
  readonly scopes: string[] = [];
  getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    this.scopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const token = `${b64({ alg: "RS256", typ: "JWT" })}.${b64({ aud: "api://AzureADTokenExchange", iss: "https://sts.example/", sub: "mi", exp })}.c2lnbmF0dXJl`;
    return Promise.resolve({ token, expiresOnTimestamp: exp * 1000 });
  }
}

describe("app credentials and local trust", () => {
  let fx: AuthFixture;
  beforeAll(async () => {
    fx = await startAuthFixture({ lockContainer: "auth-credential-locks" });
  });
  afterAll(async () => {
    await fx.close();
  });

  it("certificate from Key Vault (PEM): assertions signed with PS256 and x5t#S256 are accepted", async () => {
    const { pem } = await rsaCertificatePem("referrals-export");
    fx.entra.addApp({ clientId: fx.clientId, certificatePem: pem, allowPublicClientFlows: true });
    fx.vault.seedSecret("pc-certificate", pem, { contentType: "application/x-pem-file" });
    const options = fx.options({ credential: { kind: "certificate", certificateName: "pc-certificate" } });
    fx.registry.accessTokenLifetimeSeconds = 1;
    try {
      await fx.consentWithAuthCode(options);
      const grants = fx.registry.counters.refreshGrants;
      const token = await createPartnerCenterCredential(options).getToken(PARTNER_CENTER_SCOPE);
      expect(fx.registry.verify(`Bearer ${token.token}`)).toBe("ok");
      expect(fx.registry.counters.refreshGrants).toBe(grants + 1);

      // A different certificate with the same name is refused by Entra: an app-credential error.
      const other = await rsaCertificatePem("someone-else");
      fx.vault.seedSecret("pc-certificate", other.pem, { contentType: "application/x-pem-file" });
      const error = await createPartnerCenterCredential(options)
        .getToken(PARTNER_CENTER_SCOPE)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ reason: "app_credential" });
    } finally {
      fx.registry.accessTokenLifetimeSeconds = 3600;
      fx.entra.addApp({ clientId: fx.clientId, clientSecret: fx.clientSecret, allowPublicClientFlows: true });
    }
  });

  it("parses PEM bundles and explains PKCS#12 and encrypted keys", async () => {
    const { pem } = await rsaCertificatePem("bundle");
    const parsed = parseCertificateBundle(pem, "c");
    expect(parsed.thumbprintSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(parsed.privateKey).toContain("BEGIN PRIVATE KEY");
    expect(parsed.x5c).toContain("BEGIN CERTIFICATE");
    expect(() => parseCertificateBundle("MIIKbase64pfx", "c", "application/x-pkcs12")).toThrow(
      /application\/x-pem-file/,
    );
    expect(() =>
      parseCertificateBundle(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n-----END ENCRYPTED PRIVATE KEY-----",
        "c",
      ),
    ).toThrow(AuthError);
  });

  it("managed identity federated credential: the MI token is the client assertion", async () => {
    const source = new FakeAssertionSource();
    fx.entra.addApp({ clientId: fx.clientId, acceptAnyAssertion: true, allowPublicClientFlows: true });
    const options = fx.options({ credential: { kind: "managed-identity", assertionCredential: source } });
    fx.registry.accessTokenLifetimeSeconds = 1;
    try {
      const outcome = await fx.consentWithAuthCode(options);
      expect(outcome.clientType).toBe("confidential");
      const token = await createPartnerCenterCredential(options).getToken(PARTNER_CENTER_SCOPE);
      expect(fx.registry.verify(`Bearer ${token.token}`)).toBe("ok");
      expect(source.scopes).toContain("api://AzureADTokenExchange/.default");
    } finally {
      fx.registry.accessTokenLifetimeSeconds = 3600;
      fx.entra.addApp({ clientId: fx.clientId, clientSecret: fx.clientSecret, allowPublicClientFlows: true });
    }
  });

  it("a refresh token from a public flow is refreshed as a public client even if the tag is missing", async () => {
    await fx.consentWithDeviceCode();
    // Drop the consent's access token (forces a refresh) and the clientType tag (forces the fallback).
    const parsed = JSON.parse(fx.vault.current(fx.tokenCacheSecretName)?.value ?? "{}") as {
      AccessToken: Record<string, unknown>;
    };
    parsed.AccessToken = {};
    fx.vault.seedSecret(fx.tokenCacheSecretName, JSON.stringify(parsed), { tags: {} });
    const token = await createPartnerCenterCredential(fx.options()).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${token.token}`)).toBe("ok");
    expect(fx.vault.current(fx.tokenCacheSecretName)?.tags?.clientType).toBe("public");
    expect(fx.logs.some((l) => l.message.includes("refreshed as a public client"))).toBe(true);
  });

  it("DefaultAzureCredential reaches the Key Vault simulator through EnvironmentCredential in local mode", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AZURE_CLIENT_ID: fx.keyVaultClientId,
      AZURE_CLIENT_SECRET: fx.keyVaultClientSecret,
      AZURE_TENANT_ID: fx.tenantId,
      AZURE_AUTHORITY_HOST: fx.server.url,
    });
    try {
      await fx.consentWithAuthCode();
      const options = fx.options({ keyVaultCredential: createKeyVaultCredential({ localMode: true }) });
      const token = await createPartnerCenterCredential(options).getToken(PARTNER_CENTER_SCOPE);
      expect(fx.registry.verify(`Bearer ${token.token}`)).toBe("ok");
    } finally {
      for (const key of [
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_AUTHORITY_HOST",
      ]) {
        if (saved[key] === undefined) Reflect.deleteProperty(process.env, key);
        else process.env[key] = saved[key];
      }
    }
  });

  it("reuses one CA per directory and trusts it once", async () => {
    const again = await createSimulatorTls();
    expect(again.caCertPem).toBe(fx.tls.caCertPem);
    const count = tls.getCACertificates("default").length;
    trustLocalCa(fx.tls.caFile);
    trustLocalCa(again.caFile);
    expect(tls.getCACertificates("default").length).toBe(count);
  });
});
