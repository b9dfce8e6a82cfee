import { createHash } from "node:crypto";
import { SecretClient } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAuthFixture, type AuthFixture } from "../support/authFixture.js";

describe("Entra and Key Vault simulator routes", () => {
  let fx: AuthFixture;
  let base: string;
  beforeAll(async () => {
    fx = await startAuthFixture({ lockContainer: "auth-simulator-locks" });
    base = `${fx.server.url}/${fx.tenantId}`;
  });
  afterAll(async () => {
    await fx.close();
  });

  it("publishes OpenID configuration on the simulator origin", async () => {
    const response = await fetch(`${base}/v2.0/.well-known/openid-configuration`);
    const body = (await response.json()) as Record<string, string>;
    expect(body.issuer).toBe(`${base}/v2.0`);
    expect(body.token_endpoint).toBe(`${base}/oauth2/v2.0/token`);
    expect(body.device_authorization_endpoint).toBe(`${base}/oauth2/v2.0/devicecode`);
    expect(body.authorization_endpoint).toBe(`${base}/oauth2/v2.0/authorize`);
    const other = await fetch(`${fx.server.url}/some-other-tenant/v2.0/.well-known/openid-configuration`);
    expect(((await other.json()) as { error_codes: number[] }).error_codes).toEqual([90002]);
  });

  it("verifies PKCE S256 on the authorization code grant and refuses reuse of a code", async () => {
    const verifier = "v".repeat(50);
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const redirectUri = "http://localhost:5999";
    const authorize = new URL(`${base}/oauth2/v2.0/authorize`);
    for (const [k, v] of Object.entries({
      client_id: fx.clientId,
      redirect_uri: redirectUri,
      response_type: "code",
      scope: "https://api.partnercenter.microsoft.com/user_impersonation offline_access openid profile",
      state: "s1",
      code_challenge: challenge,
      code_challenge_method: "S256",
    })) {
      authorize.searchParams.set(k, v);
    }
    const redirect = await fetch(authorize, { redirect: "manual" });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get("location") ?? "");
    expect(location.searchParams.get("state")).toBe("s1");
    const code = location.searchParams.get("code") ?? "";
    const redeem = (codeVerifier: string): Promise<Response> =>
      fetch(`${base}/oauth2/v2.0/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          client_id: fx.clientId,
          client_secret: fx.clientSecret,
          code,
          redirect_uri: redirectUri,
          code_verifier: codeVerifier,
        }),
      });
    const wrong = await redeem("w".repeat(50));
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: "invalid_grant", error_codes: [501481] });
    const right = await redeem(verifier);
    expect(right.status).toBe(200);
    const tokens = (await right.json()) as { access_token: string; id_token: string; client_info: string };
    expect(fx.registry.verify(`Bearer ${tokens.access_token}`)).toBe("ok");
    expect(JSON.parse(Buffer.from(tokens.client_info, "base64url").toString())).toEqual({
      uid: expect.any(String),
      utid: fx.tenantId,
    });
    const again = await redeem(verifier);
    expect(await again.json()).toMatchObject({ error: "invalid_grant", error_codes: [54005] });
  });

  it("answers Key Vault like Key Vault: challenge, 404 SecretNotFound, new version per write, version list, size limit", async () => {
    const challenge = await fetch(`${fx.server.url}/secrets/anything?api-version=7.6`);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get("www-authenticate")).toBe(
      `Bearer authorization="${fx.server.url}/${fx.tenantId}", resource="https://vault.azure.net"`,
    );
    const client = new SecretClient(fx.server.url, fx.options().keyVaultCredential, {
      disableChallengeResourceVerification: true,
    });
    await expect(client.getSecret("missing-secret")).rejects.toMatchObject({
      statusCode: 404,
      code: "SecretNotFound",
    });
    const first = await client.setSecret("versioned", "one", { tags: { a: "1" }, contentType: "text/plain" });
    const second = await client.setSecret("versioned", "two");
    expect(first.properties.version).not.toBe(second.properties.version);
    expect((await client.getSecret("versioned")).value).toBe("two");
    expect((await client.getSecret("versioned", { version: first.properties.version ?? "" })).value).toBe(
      "one",
    );
    const versions: string[] = [];
    for await (const properties of client.listPropertiesOfSecretVersions("versioned"))
      versions.push(properties.version ?? "");
    expect(versions).toHaveLength(2);
    expect(fx.vault.versions("versioned")).toHaveLength(2);
    await expect(client.setSecret("too-big", "x".repeat(26 * 1024))).rejects.toMatchObject({
      statusCode: 400,
    });
  });

  it("refuses a Key Vault token for Partner Center and a Partner Center token for Key Vault", async () => {
    const kvToken = await fx.options().keyVaultCredential.getToken("https://vault.azure.net/.default");
    expect(fx.registry.verify(`Bearer ${kvToken?.token ?? ""}`)).toBe("invalid");
    const response = await fetch(`${fx.server.url}/secrets/x?api-version=7.6`, {
      headers: { authorization: "Bearer forged" },
    });
    expect(response.status).toBe(401);
  });
});
