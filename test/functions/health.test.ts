import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { authOptionsFromSettings } from "../../src/app/authOptions.js";
import type { App } from "../../src/app/app.js";
import { consentWithDeviceCode } from "../../src/auth/consent.js";
import { loadSettings } from "../../src/config/settings.js";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { startDevHost, type DevHost } from "../../src/devhost/devHost.js";
import { newRunId } from "../../src/export/runId.js";
import type { HealthReport } from "../../src/functions/health.js";
import { createLogger } from "../../src/logging/logger.js";
import type { RunRecord } from "../../src/runs/runStore.js";
import { LOCAL_USER, startLocalCloud, type LocalCloud } from "../../src/simulator/localCloud.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { authHeaders, simulatorApiToken, testApiTokens } from "../support/apiTokens.js";

/** A caller with every role: these tests are about the host, not who may call it. */
let AUTH = await authHeaders();

/** fetch with that caller's token unless a test sends its own Authorization header. */
const fetch = (input: string, init: RequestInit = {}): Promise<Response> =>
  globalThis.fetch(input, { ...init, headers: { ...AUTH, ...(init.headers as Record<string, string>) } });

/** GET /api/health through the dev host, which serves the app's own function definitions. */
const PROFILES = JSON.stringify([
  { name: "nightly", formats: ["csv"] },
  { name: "manual", formats: ["csv"], schedule: false },
]);
const HOUR_MS = 3_600_000;

let fixture: ExportFixture | undefined;
let cloud: LocalCloud | undefined;
let dev: DevHost | undefined;

afterEach(async () => {
  if (dev) {
    await dev.app.jobs.queue.deleteIfExists().catch(() => undefined);
    await dev.app.jobs.poisonQueue.deleteIfExists().catch(() => undefined);
    await dev.stop();
  }
  await fixture?.close();
  await cloud?.close();
  vi.unstubAllEnvs();
  dev = undefined;
  fixture = undefined;
  cloud = undefined;
});

function storageNames(tag: string): { runsContainer: string; locksContainer: string; jobQueue: string } {
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  return {
    runsContainer: `runs-${tag}-${id}`,
    locksContainer: `locks-${tag}-${id}`,
    jobQueue: `jobs-${tag}-${id}`,
  };
}

async function health(
  host: DevHost,
): Promise<{ status: number; cacheControl: string | null; body: HealthReport }> {
  const res = await fetch(`${host.url}/api/health`);
  return {
    status: res.status,
    cacheControl: res.headers.get("cache-control"),
    body: (await res.json()) as HealthReport,
  };
}

/** A finished run written straight to the run store, as if it had run at `completedAt`. */
async function recordRun(
  app: App,
  profile: string,
  status: "succeeded" | "failed",
  completedAt: Date,
): Promise<string> {
  const queuedAt = new Date(completedAt.getTime() - 60_000).toISOString();
  const record: RunRecord = {
    schemaVersion: 1,
    runId: newRunId(new Date(queuedAt)),
    profile,
    trigger: "timer",
    status,
    correlationId: randomBytes(8).toString("hex"),
    query: { filter: null, groupby: null, aggregationLevel: null },
    formats: ["csv"],
    queuedAt,
    startedAt: queuedAt,
    completedAt: completedAt.toISOString(),
    updatedAt: completedAt.toISOString(),
    attempts: 1,
    ...(status === "failed"
      ? { error: { reason: "upstream", message: "Partner Center failed with 500" } }
      : {}),
  };
  await app.store.create(record);
  return record.runId;
}

async function waitForRun(host: DevHost, runId: string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const run = (await (await fetch(`${host.url}/api/exports/${runId}`)).json()) as { status: string };
    if (run.status === "succeeded" || run.status === "failed") return run.status;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}

describe("GET /api/health with a working sign-in", () => {
  async function start(): Promise<DevHost> {
    fixture = await startExportFixture({ rows: 200, env: { EXPORT_PROFILES: PROFILES } });
    dev = await startDevHost({
      env: fixture.env,
      apiTokens: testApiTokens(),
      port: 0,
      timer: false,
      maxPollingIntervalMs: 200,
      appOptions: { ...storageNames("health"), partnerCenterCredential: fixtureCredential },
      logSink: () => undefined,
    });
    return dev;
  }

  it("fresh: 503 before the scheduled profile ever ran, 200 healthy once it has", async () => {
    const host = await start();
    const before = await health(host);
    expect(before.status).toBe(503);
    expect(before.cacheControl).toBe("no-store");
    expect(before.body.status).toBe("unhealthy");
    expect(before.body.reasons).toEqual(["profile 'nightly' has no successful run yet"]);
    expect(before.body.profiles).toEqual([
      { name: "nightly", scheduled: true, lastSuccessAt: null, lastRunId: null, stale: true },
      // An unscheduled profile is never stale: nothing expects it to run.
      { name: "manual", scheduled: false, lastSuccessAt: null, lastRunId: null, stale: false },
    ]);

    const accepted = await fetch(`${host.url}/api/exports`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ profile: "nightly" }),
    });
    const { runId } = (await accepted.json()) as { runId: string };
    expect(await waitForRun(host, runId)).toBe("succeeded");

    const after = await health(host);
    expect(after.status).toBe(200);
    expect(after.cacheControl).toBe("no-store");
    expect(after.body).toMatchObject({
      status: "healthy",
      consent: { state: "ok" },
      reasons: [],
    });
    const nightly = after.body.profiles.find((p) => p.name === "nightly")!;
    expect(nightly).toMatchObject({ scheduled: true, lastRunId: runId, stale: false });
    expect(Date.now() - Date.parse(nightly.lastSuccessAt!)).toBeLessThan(10 * 60_000);
  });

  it("stale: the latest success is over 26 hours old (a newer failure does not count) → 503 naming the profile", async () => {
    const host = await start();
    const successAt = new Date(Date.now() - 30 * HOUR_MS);
    const lastSuccess = await recordRun(host.app, "nightly", "succeeded", successAt);
    await recordRun(host.app, "nightly", "failed", new Date(Date.now() - 2 * HOUR_MS));

    const res = await health(host);
    expect(res.status).toBe(503);
    expect(res.body.status).toBe("unhealthy");
    expect(res.body.reasons).toEqual([
      `profile 'nightly' has no successful run since ${successAt.toISOString()} (30 hours ago; expected within 26 hours)`,
    ]);
    expect(res.body.profiles[0]).toEqual({
      name: "nightly",
      scheduled: true,
      lastSuccessAt: successAt.toISOString(),
      lastRunId: lastSuccess,
      stale: true,
    });
    expect(res.body.consent.state).toBe("ok");

    // A success 25 hours ago is within the window.
    await recordRun(host.app, "nightly", "succeeded", new Date(Date.now() - 25 * HOUR_MS));
    expect((await health(host)).status).toBe(200);
  });
});

describe("GET /api/health and the stored consent (simulated Entra ID and Key Vault)", () => {
  it("consent required: 503 with the consent reason; 200 after auth login; 503 again once it is revoked", async () => {
    // Access tokens inside MSAL's refresh window: every check refreshes, so a revocation shows at once.
    cloud = await startLocalCloud({ rows: 10, seed: 9, registry: { accessTokenLifetimeSeconds: 120 } });
    trustLocalCa(cloud.tls.caFile);
    const names = storageNames("hconsent");
    const env: Record<string, string> = {
      ...cloud.settingsEnv(),
      EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
      EXPORT_CONTAINER: `exp-hconsent-${randomBytes(3).toString("hex")}`,
      EXPORT_PROFILES: PROFILES,
    };
    // Key Vault's identity is DefaultAzureCredential -> EnvironmentCredential (the process environment).
    for (const name of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
      vi.stubEnv(name, env[name] ?? "");
    dev = await startDevHost({
      env,
      port: 0,
      timer: false,
      worker: false,
      appOptions: names,
      logSink: () => undefined,
    });
    // The scheduled profile is fresh, so the consent is the only thing wrong.
    await recordRun(dev.app, "nightly", "succeeded", new Date(Date.now() - HOUR_MS));
    // A monitor calls with a token of the simulated tenant carrying Exports.Read.
    AUTH = { authorization: `Bearer ${await simulatorApiToken(cloud.url, cloud.apiCallers.reader)}` };

    const none = await health(dev);
    expect(none.status).toBe(503);
    expect(none.body.reasons).toEqual([
      "consent_required: run referrals-export remote consent (headless: referrals-export auth login --device-code)",
    ]);
    expect(none.body.consent).toMatchObject({
      state: "consent_required",
      account: "",
      lastRefreshAt: null,
      ageHours: null,
    });
    expect(none.body.profiles[0]?.stale).toBe(false);

    const settings = loadSettings(env);
    const quiet = createLogger("error", () => undefined);
    await consentWithDeviceCode(authOptionsFromSettings(settings, dev.app.locksContainer, quiet), {
      onPrompt: () => undefined,
      timeoutSeconds: 60,
    });
    const signedIn = await health(dev);
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).toMatchObject({
      status: "healthy",
      consent: { state: "ok", account: LOCAL_USER.username },
      reasons: [],
    });
    expect(signedIn.body.consent.ageHours).toBeGreaterThanOrEqual(0);
    expect(Date.parse(signedIn.body.consent.lastRefreshAt!)).toBeGreaterThan(Date.now() - 10 * 60_000);

    cloud.registry.revokeRefreshTokens();
    const revoked = await health(dev);
    expect(revoked.status).toBe(503);
    expect(revoked.body.consent).toMatchObject({ state: "consent_required", account: LOCAL_USER.username });
    expect(revoked.body.reasons).toEqual([
      "consent_required: run referrals-export remote consent (headless: referrals-export auth login --device-code)",
    ]);

    const text = JSON.stringify([none.body, signedIn.body, revoked.body]);
    for (const token of cloud.registry.issuedTokenStrings()) expect(text).not.toContain(token);
  });
});
