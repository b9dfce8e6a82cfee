import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import "../support/canary.js";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { createApp } from "../../src/app/app.js";
import { loadSettings } from "../../src/config/settings.js";
import { createLogger } from "../../src/logging/logger.js";
import type { Referral } from "../../src/simulator/dataset.js";
import { startLocalCloud, type LocalCloud } from "../../src/simulator/localCloud.js";
import { freePort } from "../../src/simulator/ports.js";
import {
  expectPublished,
  expectUnchanged,
  storageSnapshot,
  type CliResult,
  type StorageSnapshot,
} from "./harness.js";

/**
 * Key Vault (where the delegated sign-in lives) failing during an export, through the production
 * sign-in path: MSAL refreshing from the token cache in the simulated vault, each CLI run a fresh set
 * of clients. A blip is retried; a vault that stays down fails the run before anything is asked of
 * Partner Center, publishes nothing and leaves the stored sign-in as it was.
 */
const PROFILE = "faults-vault";
const CACHE_SECRET = "partner-center-token-cache";
const ROWS = 2_100;

let cloud: LocalCloud;
let env: Record<string, string>;
const logLines: string[] = [];

beforeAll(async () => {
  // Access tokens inside MSAL's 5-minute refresh window: every run reads the vault and refreshes.
  cloud = await startLocalCloud({ rows: ROWS, seed: 5, registry: { accessTokenLifetimeSeconds: 120 } });
  env = {
    ...cloud.settingsEnv(),
    EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
    EXPORT_CONTAINER: `faults-vault-${process.pid}`,
    EXPORT_PROFILES: JSON.stringify([{ name: PROFILE }]),
    EXPORT_PAGE_SIZE: "500",
    LOG_LEVEL: "debug",
  };
  // DefaultAzureCredential (the app's identity for Key Vault) reads these from the process environment.
  for (const key of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
    process.env[key] = env[key];
  expect((await cli(["auth", "login", "--device-code"])).code).toBe(0);
  expect((await cli(["export", "--profile", PROFILE])).code).toBe(0);
});

afterAll(async () => {
  cloud.vault.failNext(0);
  await cloud.close();
});

async function cli(argv: string[], overrides: Record<string, string> = {}): Promise<CliResult> {
  const lines: string[] = [];
  const errors: string[] = [];
  const io: CliIo = { interactive: false, out: (l) => lines.push(l), err: (l) => errors.push(l) };
  const code = await runCli(argv, { ...env, ...overrides }, io, {
    openApp: (settings) =>
      createApp(settings, { logger: createLogger("debug", (line) => logLines.push(line)) }),
  });
  return { code, out: lines.join("\n"), err: errors.join("\n") };
}

const container = () => createApp(loadSettings(env)).exportContainer;
const expectedRows = (): Referral[] =>
  Array.from({ length: cloud.dataset.size }, (_, i) => cloud.dataset.get(i));

/** The stored sign-in is intact: one version that parses, with exactly one account. */
function expectSignInIntact(version: string | undefined): void {
  const current = cloud.vault.current(CACHE_SECRET);
  expect(current?.version).toBe(version);
  const cache = JSON.parse(current!.value) as {
    Account: Record<string, unknown>;
    RefreshToken: Record<string, unknown>;
  };
  expect(Object.keys(cache.Account)).toHaveLength(1);
  expect(Object.keys(cache.RefreshToken).length).toBeGreaterThan(0);
}

describe("Key Vault blips are retried", () => {
  it.each([
    ["two 503 answers", 503 as const],
    ["two dropped connections", "drop" as const],
  ])("%s: the run publishes every row and stores the rotated sign-in", async (_name, kind) => {
    const before = await storageSnapshot(container());
    const versions = cloud.vault.versions(CACHE_SECRET).length;
    const faults = cloud.vault.counters.faults;
    cloud.vault.failNext(2, kind);
    const result = await cli(["export", "--profile", PROFILE]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(cloud.vault.counters.faults - faults).toBe(2);
    expectPublished(before, await storageSnapshot(container()), PROFILE, expectedRows());
    expect(cloud.vault.versions(CACHE_SECRET).length).toBeGreaterThan(versions);
    expectSignInIntact(cloud.vault.current(CACHE_SECRET)?.version);
  });
});

describe("Key Vault down for the whole run", () => {
  async function expectCleanVaultFailure(
    result: CliResult,
    before: StorageSnapshot,
    requests: number,
    version: string | undefined,
  ): Promise<void> {
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /Key Vault read of the token cache secret 'partner-center-token-cache' failed/,
    );
    expect(result.err).toMatch(/Nothing was published; latest\/ still holds the previous snapshot\./);
    // Nothing was asked of Partner Center without a token, and nothing changed in storage or the vault.
    expect(cloud.partnerCenter.referralsRequestCount).toBe(requests);
    const after = await storageSnapshot(container());
    expectUnchanged(before, after);
    expect(after.uncommitted).toEqual([]);
    expectSignInIntact(version);
  }

  it.each([
    ["answering 503", 503 as const, /HTTP 503/],
    ["dropping every connection", "drop" as const, /no response|socket|ECONNRESET/i],
  ])(
    "%s: exit 1 naming Key Vault, storage and the stored sign-in as they were; the next run publishes",
    async (_name, kind, cause) => {
      const before = await storageSnapshot(container());
      const requests = cloud.partnerCenter.referralsRequestCount;
      const version = cloud.vault.current(CACHE_SECRET)?.version;
      cloud.vault.failNext(1_000, kind);
      let result: CliResult;
      try {
        result = await cli(["export", "--profile", PROFILE]);
      } finally {
        cloud.vault.failNext(0);
      }
      await expectCleanVaultFailure(result, before, requests, version);
      expect(result.err).toMatch(cause);

      const next = await cli(["export", "--profile", PROFILE]);
      expect(next.code).toBe(0);
      expectPublished(before, await storageSnapshot(container()), PROFILE, expectedRows());
    },
  );

  it("KEY_VAULT_URL at a port where nothing listens: exit 1 naming Key Vault, nothing published", async () => {
    const before = await storageSnapshot(container());
    const requests = cloud.partnerCenter.referralsRequestCount;
    const version = cloud.vault.current(CACHE_SECRET)?.version;
    const result = await cli(["export", "--profile", PROFILE], {
      KEY_VAULT_URL: `https://127.0.0.1:${await freePort()}`,
    });
    await expectCleanVaultFailure(result, before, requests, version);
    vaultDown = result;
  });

  it("a Key Vault outage is reported as a sign-in (Key Vault) failure, not as Partner Center being unreachable", () => {
    expect(vaultDown?.err).toMatch(/Key Vault/);
    expect(vaultDown?.err).not.toMatch(/failed \(upstream\)|Could not reach Partner Center/);
  });
});

let vaultDown: CliResult | undefined;

describe("what the runs logged", () => {
  it("debug logs of every run above hold no token, refresh token or secret", () => {
    expect(logLines.length).toBeGreaterThan(20);
    const text = logLines.join("\n");
    for (const secret of [...cloud.registry.issuedTokenStrings(), env.AZURE_CLIENT_SECRET!])
      expect(text.includes(secret), "a credential appeared in the logs").toBe(false);
  });
});
