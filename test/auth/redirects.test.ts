import type { ServerResponse } from "node:http";
import type { TokenCredential } from "@azure/core-auth";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPartnerCenterCredential } from "../../src/auth/credential.js";
import { isAuthError } from "../../src/auth/errors.js";
import { PARTNER_CENTER_SCOPE } from "../../src/auth/options.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import { KEY_VAULT_AUDIENCE } from "../../src/simulator/tokenRegistry.js";
import { startAuthFixture, type AuthFixture } from "../support/authFixture.js";

const TOKEN_PATH = /^\/[^/]+\/oauth2\/v2\.0\/token$/;

describe("the token client never follows a redirect", () => {
  let fx: AuthFixture;
  /** Another loopback origin (another port) that records whatever reaches it. */
  let elsewhere: SimulatorServer;
  /** While set, the simulator answers token POSTs with 307 to this origin. */
  let redirectTo: string | undefined;

  beforeAll(async () => {
    fx = await startAuthFixture({
      lockContainer: "auth-redirect-locks",
      extraRoutes: () => [
        (req, res, url) => {
          if (redirectTo === undefined || req.method !== "POST" || !TOKEN_PATH.test(url.pathname)) {
            return Promise.resolve(false);
          }
          res.writeHead(307, { location: `${redirectTo}${url.pathname}?code=redirect-code-canary` });
          res.end();
          return Promise.resolve(true);
        },
      ],
    });
    elsewhere = await startSimulatorServer({
      routes: [
        (_req, res: ServerResponse) => {
          res.writeHead(400, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "invalid_request", error_description: "not a token endpoint" }));
          return Promise.resolve(true);
        },
      ],
      tls: { key: fx.tls.key, cert: fx.tls.cert },
    });
  });
  afterAll(async () => {
    await elsewhere.close();
    await fx.close();
  });
  afterEach(() => {
    redirectTo = undefined;
    fx.registry.accessTokenLifetimeSeconds = 3600;
  });

  /**
   * Key Vault tokens straight from the registry, so only the Partner Center app's MSAL client uses
   * the (redirected) token endpoint.
   */
  function vaultCredential(): TokenCredential {
    return {
      getToken: () => {
        const lifetime = fx.registry.accessTokenLifetimeSeconds;
        fx.registry.accessTokenLifetimeSeconds = 3600;
        const issued = fx.registry.issueAccessToken({
          audience: KEY_VAULT_AUDIENCE,
          scopes: [".default"],
          delegated: false,
          clientId: fx.keyVaultClientId,
          tenantId: fx.tenantId,
        });
        fx.registry.accessTokenLifetimeSeconds = lifetime;
        return Promise.resolve({
          token: issued.token,
          expiresOnTimestamp: Date.now() + issued.expiresInSeconds * 1000,
        });
      },
    };
  }

  function tokenPosts(): number {
    return fx.server.requests.filter((r) => r.method === "POST" && TOKEN_PATH.test(r.path)).length;
  }

  function expectRefusedRedirect(error: unknown): void {
    expect(isAuthError(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain("answered 307 with a redirect to");
    expect(message).toContain(elsewhere.url);
    expect(message).toContain("never follow redirects");
    expect(message).not.toContain("redirect-code-canary");
    expect(message).not.toContain("oauth2/v2.0/token?");
    expect(message).not.toContain(`${elsewhere.url}/`);
  }

  it("a refresh answered with 307 to another origin fails once, and the other origin receives nothing", async () => {
    fx.registry.accessTokenLifetimeSeconds = 1; // MSAL treats tokens this short as due for refresh
    await fx.consentWithAuthCode({ keyVaultCredential: vaultCredential() });
    const grantsBefore = fx.registry.counters.refreshGrants;
    const postsBefore = tokenPosts();
    redirectTo = elsewhere.url;

    const error = await createPartnerCenterCredential(fx.options({ keyVaultCredential: vaultCredential() }))
      .getToken(PARTNER_CENTER_SCOPE)
      .catch((e: unknown) => e);

    // Without the fix fetch re-posted the refresh token (or device code) to the other origin.
    expect(elsewhere.requests).toEqual([]);
    expectRefusedRedirect(error);
    // A redirect is not a transient failure: no retry.
    expect(tokenPosts()).toBe(postsBefore + 1);
    expect(fx.registry.counters.refreshGrants).toBe(grantsBefore);
  });

  it("a device code consent whose token poll is redirected fails and sends nothing to the other origin", async () => {
    redirectTo = elsewhere.url;
    const error = await fx.consentWithDeviceCode().catch((e: unknown) => e);
    // Without the fix fetch re-posted the refresh token (or device code) to the other origin.
    expect(elsewhere.requests).toEqual([]);
    expectRefusedRedirect(error);
  });
});
