import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import { loadSettings } from "../../src/config/settings.js";
import type { CliIo } from "../../src/cli/io.js";
import { createApp } from "../../src/app/app.js";
import { createLogger } from "../../src/logging/logger.js";
import { startLocalCloud, type LocalCloud } from "../../src/simulator/localCloud.js";

/**
 * The export through the production sign-in path: MSAL refreshing from a token cache in
 * (simulated) Key Vault, each CLI call a fresh set of clients as a new process would have.
 */
let cloud: LocalCloud;
let env: Record<string, string>;
const logLines: string[] = [];
const secrets: string[] = [];

beforeAll(async () => {
  // Access tokens that expire within MSAL's 5-minute refresh window: every run refreshes.
  cloud = await startLocalCloud({ rows: 12_000, seed: 3, registry: { accessTokenLifetimeSeconds: 120 } });
  env = {
    ...cloud.settingsEnv(),
    EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
    EXPORT_CONTAINER: `delegated-${process.pid}`,
    EXPORT_PROFILES: JSON.stringify([{ name: "delegated-all" }]),
    LOG_LEVEL: "debug",
  };
  // DefaultAzureCredential (Key Vault access) reads these from the process environment.
  for (const key of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
    process.env[key] = env[key];
  secrets.push(env.AZURE_CLIENT_SECRET!, cloud.vault.current("partner-center-client-secret")!.value);
});
afterAll(async () => {
  await cloud.close();
});

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const io: CliIo = { interactive: false, out: (l) => lines.push(l), err: (l) => errors.push(l) };
  const code = await runCli(argv, env, io, {
    openApp: (settings) =>
      createApp(settings, { logger: createLogger("debug", (line) => logLines.push(line)) }),
  });
  logLines.push(...lines, ...errors);
  return { code, out: lines.join("\n"), err: errors.join("\n") };
}

async function blobNames(): Promise<string[]> {
  const { exportContainer } = createApp(loadSettings(env));
  const names: string[] = [];
  for await (const b of exportContainer.listBlobsFlat()) names.push(b.name);
  return names.sort();
}

describe("export with the delegated sign-in kept in Key Vault", () => {
  it("needs consent first: exit 3 naming auth login, and nothing is requested from Partner Center", async () => {
    const result = await cli(["export", "--profile", "delegated-all"]);
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/auth login/);
    expect(cloud.partnerCenter.referralsRequestCount).toBe(0);
  });

  it("after a device-code consent, separate runs export unattended and write back rotated refresh tokens", async () => {
    const login = await cli(["auth", "login", "--device-code"]);
    expect(login.code).toBe(0);
    const versionsAfterLogin = cloud.vault.versions("partner-center-token-cache").length;
    expect(versionsAfterLogin).toBe(1);

    const first = await cli(["export", "--profile", "delegated-all"]);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/12,000 rows/);
    const second = await cli(["export", "--profile", "delegated-all"]);
    expect(second.code).toBe(0);

    // each fresh run refreshed (short-lived access tokens) and stored the new cache
    expect(cloud.registry.counters.refreshGrants).toBeGreaterThanOrEqual(2);
    expect(cloud.vault.versions("partner-center-token-cache").length).toBeGreaterThan(versionsAfterLogin);
    const status = await cli(["auth", "status"]);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/partner\.admin@contoso\.example/);
  });

  it("a revoked sign-in fails the run with exit 3, publishes nothing and keeps latest/", async () => {
    const before = await blobNames();
    expect(before).toContain("delegated-all/latest/_manifest.json");
    cloud.registry.revokeRefreshTokens();
    const requestsBefore = cloud.partnerCenter.referralsRequestCount;

    const result = await cli(["export", "--profile", "delegated-all"]);
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/consent_required/);
    expect(result.err).toMatch(/referrals-export auth login/);
    expect(cloud.partnerCenter.referralsRequestCount).toBe(requestsBefore);
    expect(await blobNames()).toEqual(before);
    expect((await cli(["auth", "status"])).code).toBe(3);
  });

  it("never logs a token, refresh token, secret or Authorization value (debug logging on)", () => {
    const tokens = cloud.registry.issuedTokenStrings();
    expect(tokens.length).toBeGreaterThan(4);
    expect(logLines.length).toBeGreaterThan(10);
    const text = logLines.join("\n");
    for (const secret of [...tokens, ...secrets])
      expect(text.includes(secret), "a credential appeared in the logs").toBe(false);
    expect(text).not.toMatch(/Bearer\s+(?!\[redacted\])[A-Za-z0-9]/i);
  });
});
