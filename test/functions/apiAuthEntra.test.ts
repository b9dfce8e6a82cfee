import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { startDevHost, type DevHost } from "../../src/devhost/devHost.js";
import { apiTokenValidator, discoverTenantKeys } from "../../src/functions/apiToken.js";
import {
  LOCAL_API_CLIENT_ID,
  LOCAL_CLIENT_ID,
  LOCAL_TENANT_ID,
  LOCAL_USER,
  startLocalCloud,
  type LocalCloud,
} from "../../src/simulator/localCloud.js";
import { simulatorApiToken } from "../support/apiTokens.js";
import { cli } from "../cli/cliHarness.js";

/** One local CA per test process: CAs of different folders share a subject name. */
const TEST_TLS_DIR = join(tmpdir(), "referrals-export-test-tls");

let cloud: LocalCloud;
let dev: DevHost;
const logs: string[] = [];

beforeAll(async () => {
  cloud = await startLocalCloud({ rows: 60, seed: 5, tlsDir: TEST_TLS_DIR });
  trustLocalCa(cloud.tls.caFile);
  const id = randomBytes(3).toString("hex");
  const env: Record<string, string> = {
    ...cloud.settingsEnv(),
    EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
    EXPORT_CONTAINER: `exp-entra-${id}`,
    EXPORT_PROFILES: JSON.stringify([{ name: "won", formats: ["csv"] }]),
  };
  // The Key Vault identity is DefaultAzureCredential -> EnvironmentCredential (the process environment).
  for (const name of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
    vi.stubEnv(name, env[name] ?? "");
  dev = await startDevHost({
    env,
    port: 0,
    timer: false,
    maxPollingIntervalMs: 200,
    appOptions: {
      runsContainer: `runs-entra-${id}`,
      locksContainer: `locks-entra-${id}`,
      jobQueue: `jobs-entra-${id}`,
    },
    logSink: (line) => logs.push(line),
  });
});

afterAll(async () => {
  await dev.app.jobs.queue.deleteIfExists().catch(() => undefined);
  await dev.app.jobs.poisonQueue.deleteIfExists().catch(() => undefined);
  await dev.stop();
  await cloud.close();
  vi.unstubAllEnvs();
});

const api = (path: string, token: string | undefined, init: RequestInit = {}) =>
  fetch(`${dev.url}/api/${path}`, {
    ...init,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
    },
  });

describe("the API checks callers against the tenant's Entra ID (simulated), as in Azure", () => {
  it("tokens from Entra ID's client credentials grant: each app gets what its role allows", async () => {
    const reader = await simulatorApiToken(cloud.url, cloud.apiCallers.reader);
    const runner = await simulatorApiToken(cloud.url, cloud.apiCallers.runner);
    const nobody = await simulatorApiToken(cloud.url, cloud.apiCallers.none);

    expect((await api("exports", reader)).status).toBe(200);
    const refused = await api("exports", reader, {
      method: "POST",
      body: JSON.stringify({ profile: "won" }),
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { requiredRole: string }).requiredRole).toBe("Exports.Run");
    expect((await api("exports", nobody)).status).toBe(403);
    const accepted = await api("exports", runner, {
      method: "POST",
      body: JSON.stringify({ profile: "won" }),
    });
    expect(accepted.status).toBe(202);
    // The key set was fetched from the jwks_uri the tenant's OpenID configuration names.
    expect(cloud.entra.counters.jwksRequests).toBeGreaterThan(0);
  });

  it("a token the tenant's Entra ID did not sign, or one for another API, is refused with 401", async () => {
    const flawed = [
      await cloud.entra.mintApiToken({ apiClientId: LOCAL_API_CLIENT_ID, kind: "user", key: "unpublished" }),
      await cloud.entra.mintApiToken({
        apiClientId: LOCAL_API_CLIENT_ID,
        kind: "user",
        lifetimeSeconds: -600,
      }),
      await cloud.entra.mintApiToken({
        apiClientId: LOCAL_API_CLIENT_ID,
        kind: "user",
        audience: LOCAL_CLIENT_ID,
      }),
      await cloud.entra.mintApiToken({ apiClientId: LOCAL_API_CLIENT_ID, kind: "user", algorithm: "none" }),
    ];
    for (const token of flawed) {
      const answer = await api("exports", token);
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toContain('error="invalid_token"');
    }
    // The user's own delegated token (assigned Exports.Admin) is fine.
    const user = await cloud.entra.mintApiToken({ apiClientId: LOCAL_API_CLIENT_ID, kind: "user" });
    expect((await api("exports", user)).status).toBe(200);
  });
});

describe("consent through the app", () => {
  it("an admin starts it, the browser comes back to the app, and only the app's confidential client can use the result", async () => {
    const runner = await simulatorApiToken(cloud.url, cloud.apiCallers.runner);
    const notAdmin = await api("consent", runner, { method: "POST" });
    expect(notAdmin.status, await notAdmin.clone().text()).toBe(403);

    const admin = await simulatorApiToken(cloud.url, cloud.apiCallers.admin);
    const started = await api("consent", admin, { method: "POST" });
    expect(started.status).toBe(201);
    const body = (await started.json()) as { authorizeUrl: string; redirectUri: string; expiresAt: string };
    expect(body.redirectUri).toBe(`${dev.url}/api/consent/callback`);
    const authorize = new URL(body.authorizeUrl);
    expect(authorize.origin).toBe(cloud.url);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorize.searchParams.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // The browser: Entra ID signs the user in and sends it back to the app with a code.
    const signIn = await fetch(body.authorizeUrl, { redirect: "manual" });
    expect(signIn.status).toBe(302);
    const callback = signIn.headers.get("location")!;
    expect(callback.startsWith(body.redirectUri)).toBe(true);

    // A reply with another state is refused and does not use the request up.
    const forged = new URL(callback);
    forged.searchParams.set("state", "forged-state-value");
    const refused = await fetch(forged);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("matches no open consent request");

    const landed = await fetch(callback);
    expect(landed.status, await landed.clone().text()).toBe(200);
    expect(landed.headers.get("content-security-policy")).toBe("default-src 'none'");
    expect(await landed.text()).toContain(`The sign-in of ${LOCAL_USER.username} is stored`);

    // Single use: the same reply again is refused.
    const replay = await fetch(callback);
    expect(replay.status).toBe(400);

    // The cache in Key Vault says how it was made; its refresh token needs the app's credential.
    const stored = cloud.vault.current("partner-center-token-cache");
    expect(stored?.tags).toMatchObject({ consentFlow: "app-auth-code", clientType: "confidential" });
    const refreshToken =
      /"secret":"([^"]+)","credential_type":"RefreshToken"/.exec(stored?.value ?? "")?.[1] ??
      (JSON.parse(stored?.value ?? "{}") as { RefreshToken?: Record<string, { secret: string }> })
        .RefreshToken;
    const secret =
      typeof refreshToken === "string" ? refreshToken : Object.values(refreshToken ?? {})[0]?.secret;
    expect(secret).toBeTruthy();
    const publicRedeem = await fetch(`${cloud.url}/${LOCAL_TENANT_ID}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        client_id: LOCAL_CLIENT_ID,
        refresh_token: secret!,
        scope: "https://api.partnercenter.microsoft.com/user_impersonation offline_access",
      }).toString(),
    });
    expect(publicRedeem.status).toBe(401);
    expect(((await publicRedeem.json()) as { error: string }).error).toBe("invalid_client");

    // And the app itself exports with it.
    const run = await api("exports", admin, {
      method: "POST",
      body: JSON.stringify({ profile: "won", force: true }),
    });
    expect(run.status).toBe(202);
    const location = run.headers.get("location")!;
    let status = "queued";
    for (let i = 0; i < 300 && (status === "queued" || status === "running"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (
        (await (
          await fetch(`${dev.url}${location}`, { headers: { authorization: `Bearer ${admin}` } })
        ).json()) as { status: string }
      ).status;
    }
    expect(status).toBe("succeeded");
    expect(logs.join("\n")).not.toContain(secret!);
  });
});

describe("the CLI's remote commands against the dev host, signed in through DefaultAzureCredential", () => {
  it("remote export --wait runs an export to its end with the caller app's own sign-in; remote consent prints the sign-in page", async () => {
    const runner = cloud.apiCallers.runner;
    // EnvironmentCredential (inside DefaultAzureCredential) reads the process environment.
    vi.stubEnv("AZURE_CLIENT_ID", runner.clientId);
    vi.stubEnv("AZURE_CLIENT_SECRET", runner.clientSecret);
    try {
      const env = {
        REFERRALS_EXPORT_API_URL: dev.url,
        API_CLIENT_ID: LOCAL_API_CLIENT_ID,
        AZURE_AUTHORITY_HOST: cloud.url,
      };
      const done = await cli(["remote", "export", "--profile", "won", "--wait", "--timeout", "120s"], env);
      expect(done.err).toMatch(/succeeded/);
      expect(done.code).toBe(0);
      const denied = await cli(["remote", "consent"], env);
      expect(denied.code).toBe(1);
      expect(denied.err).toContain("Exports.Admin");
    } finally {
      vi.stubEnv("AZURE_CLIENT_ID", cloud.settingsEnv().AZURE_CLIENT_ID ?? "");
      vi.stubEnv("AZURE_CLIENT_SECRET", cloud.settingsEnv().AZURE_CLIENT_SECRET ?? "");
    }
    const admin = await simulatorApiToken(cloud.url, cloud.apiCallers.admin);
    const consent = await cli(
      ["remote", "consent", "--api-url", dev.url, "--scope", `api://${LOCAL_API_CLIENT_ID}/.default`],
      {},
      {
        apiCredential: {
          getToken: () => Promise.resolve({ token: admin, expiresOnTimestamp: Date.now() + 600_000 }),
        },
      },
    );
    expect(consent.code).toBe(0);
    const page = new URL(consent.out.trim());
    expect(page.origin).toBe(cloud.url);
    expect(page.searchParams.get("redirect_uri")).toBe(`${dev.url}/api/consent/callback`);
    expect(consent.out + consent.err).not.toContain(admin);
  });
});

// Last: rotating the tenant's keys affects every token the simulator signs afterwards.
describe("Entra ID key rollover", () => {
  it("key rollover: a token signed with a key published after the last fetch is accepted once the set is refetched", async () => {
    const { issuer, tenantId, keys } = await discoverTenantKeys(
      { authorityHost: cloud.url, tenant: LOCAL_TENANT_ID },
      0,
    );
    expect(tenantId).toBe(LOCAL_TENANT_ID);
    const validator = apiTokenValidator({ issuer, tenantId, keys, audiences: [LOCAL_API_CLIENT_ID] });
    const before = await cloud.entra.mintApiToken({ apiClientId: LOCAL_API_CLIENT_ID, kind: "user" });
    expect((await validator.check(`Bearer ${before}`)).ok).toBe(true);
    const fetches = cloud.entra.counters.jwksRequests;

    await cloud.entra.rotateSigningKey({ keepPrevious: true });
    const after = await cloud.entra.mintApiToken({ apiClientId: LOCAL_API_CLIENT_ID, kind: "user" });
    expect((await validator.check(`Bearer ${after}`)).ok).toBe(true);
    expect(cloud.entra.counters.jwksRequests).toBe(fetches + 1);
    // The previous key is still published, so tokens signed before the rollover stay valid.
    expect((await validator.check(`Bearer ${before}`)).ok).toBe(true);
  });
});
