import { randomBytes } from "node:crypto";
import { logs } from "@opentelemetry/api-logs";
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  SimpleLogRecordProcessor,
  type ReadableLogRecord,
} from "@opentelemetry/sdk-logs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import { authOptionsFromSettings } from "../../src/app/authOptions.js";
import { consentWithDeviceCode } from "../../src/auth/consent.js";
import { loadSettings } from "../../src/config/settings.js";
import { trustLocalCa } from "../../src/config/localTrust.js";
import type { Manifest } from "../../src/export/manifest.js";
import { reportConsent } from "../../src/functions/consentReport.js";
import { recordPoisonedJob, runJob } from "../../src/functions/queueWorker.js";
import type { FunctionHost } from "../../src/functions/runtime.js";
import { createLogger } from "../../src/logging/logger.js";
import { openTelemetryRunTelemetry, type RunEvent } from "../../src/logging/telemetry.js";
import {
  CONSENT_EVENT,
  CONSENT_EVENT_FIELDS,
  RUN_EVENT,
  RUN_EVENT_FIELDS,
} from "../../src/logging/telemetryEvents.js";
import type { RunRecord } from "../../src/runs/runStore.js";
import { LOCAL_USER, startLocalCloud, type LocalCloud } from "../../src/simulator/localCloud.js";
import { validateQuery } from "../../src/partnerCenter/query.js";
import { tokensIssuedInProcess } from "../../src/simulator/tokenRegistry.js";
import { FIXTURE_SECRETS, findCredentials } from "../support/canary.js";
import { startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext, startFunctionHost } from "../support/functionHost.js";

/**
 * Run and consent telemetry through OpenTelemetry: the app's default telemetry writes log records
 * to the global logger provider, here an in-memory exporter standing in for Azure Monitor's.
 */
const exporter = new InMemoryLogRecordExporter();
const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });

beforeAll(() => {
  logs.setGlobalLoggerProvider(provider);
});
afterAll(async () => {
  logs.disable();
  await provider.shutdown();
});
beforeEach(() => {
  exporter.reset();
});

const records = (): ReadableLogRecord[] => exporter.getFinishedLogRecords();
const named = (name: string): ReadableLogRecord[] => records().filter((r) => r.body === name);

/** Everything the records carry, as one text, for the secret and customer-name checks. */
const recordText = (): string =>
  JSON.stringify(records().map((r) => ({ body: r.body, attributes: r.attributes })));

function expectContractShape(record: ReadableLogRecord, fields: readonly string[], name: string): void {
  expect(Object.keys(record.attributes).sort()).toEqual([...fields].sort());
  expect(record.attributes.event).toBe(name);
}

async function manifestOf(fixture: ExportFixture, run: RunRecord): Promise<Manifest> {
  const blob = fixture.services.exportContainer.getBlobClient(run.manifestPath ?? "");
  return JSON.parse((await blob.downloadToBuffer()).toString("utf8")) as Manifest;
}

describe("export.run: one record per run, whichever door ends it", () => {
  let fixture: ExportFixture | undefined;
  let runtime: App | undefined;
  afterEach(async () => {
    await runtime?.jobs.queue.deleteIfExists();
    await runtime?.jobs.poisonQueue.deleteIfExists();
    await fixture?.close();
    fixture = undefined;
    runtime = undefined;
  });

  async function setup(options: { rows: number; faults?: string; env?: Record<string, string> }): Promise<{
    fixture: ExportFixture;
    runtime: App;
    host: FunctionHost;
    logs: string[];
  }> {
    fixture = await startExportFixture({
      rows: options.rows,
      ...(options.faults !== undefined ? { faults: options.faults } : {}),
      env: {
        EXPORT_PROFILES: JSON.stringify([
          { name: "nightly-all", formats: ["csv", "json"] },
          { name: "on-demand", formats: ["csv"], schedule: false },
        ]),
        ...options.env,
      },
    });
    const started = await startFunctionHost(fixture, "tel");
    runtime = started.runtime;
    return { fixture, runtime, host: started.host, logs: [] };
  }

  function expectNoSecretsOrCustomers(f: ExportFixture): void {
    const text = recordText();
    expect(findCredentials(text, [...FIXTURE_SECRETS, ...tokensIssuedInProcess()])).toEqual([]);
    for (let i = 0; i < f.dataset.size; i++) {
      const { customerName } = f.dataset.get(i);
      expect(text.includes(customerName), `customer name of row ${i} in telemetry`).toBe(false);
    }
  }

  it("a succeeded queue-worker run: its counts from the manifest; redeliveries add nothing", async () => {
    // One 429 on the second page: the manifest counts a throttle and a retry, which the event repeats.
    const s = await setup({ rows: 700, faults: "429:0@2", env: { EXPORT_PAGE_SIZE: "200" } });
    const profile = s.fixture.settings.profiles[0]!;
    const submitted = await s.runtime.runs.submit(
      { profile: profile.name, source: "profile", query: profile.query, formats: profile.formats },
      { trigger: "http" },
    );
    if (submitted.kind !== "accepted") throw new Error(`not accepted: ${submitted.kind}`);
    const received = await s.runtime.jobs.queue.receiveMessages({ numberOfMessages: 1 });
    const item = received.receivedMessageItems[0]!;
    const job = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as unknown;
    await s.runtime.jobs.queue.deleteMessage(item.messageId, item.popReceipt);

    await runJob(s.host, job, invocationContext("exportWorker", s.logs, { dequeueCount: 1 }));
    await runJob(s.host, job, invocationContext("exportWorker", s.logs, { dequeueCount: 2 }));
    await recordPoisonedJob(s.host, job, invocationContext("exportPoisoned", s.logs));

    const events = named(RUN_EVENT);
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expectContractShape(event, RUN_EVENT_FIELDS, RUN_EVENT);
    const run = (await s.runtime.runs.get(submitted.run.runId))!;
    const manifest = await manifestOf(s.fixture, run);
    expect(manifest.partnerCenter.throttled).toBe(1);
    expect(event.attributes).toEqual({
      event: RUN_EVENT,
      runId: run.runId,
      profile: "nightly-all",
      dataset: "referrals",
      trigger: "http",
      status: "succeeded",
      reason: "",
      rows: 700,
      pages: manifest.pages,
      durationMs: run.durationMs,
      retries: manifest.partnerCenter.retries,
      throttled: 1,
      bytes: manifest.files.reduce((sum, f) => sum + f.bytes, 0),
      scheduled: true,
    } satisfies Record<(typeof RUN_EVENT_FIELDS)[number], unknown>);
    expect(manifest.pages).toBeGreaterThanOrEqual(4);
    expect(manifest.partnerCenter.retries).toBeGreaterThanOrEqual(1);
    expect(event.attributes.bytes).toBeGreaterThan(0);
    expectNoSecretsOrCustomers(s.fixture);
  });

  it("a failed run reports once, on its last delivery, with the failure's reason", async () => {
    const s = await setup({ rows: 50, faults: "500@*", env: { EXPORT_MAX_RETRIES: "1" } });
    const profile = s.fixture.settings.profiles[0]!;
    const submitted = await s.runtime.runs.submit(
      { profile: profile.name, source: "profile", query: profile.query, formats: profile.formats },
      { trigger: "timer" },
    );
    if (submitted.kind !== "accepted") throw new Error(`not accepted: ${submitted.kind}`);
    const received = await s.runtime.jobs.queue.receiveMessages({ numberOfMessages: 1 });
    const item = received.receivedMessageItems[0]!;
    const job = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as unknown;
    await s.runtime.jobs.queue.deleteMessage(item.messageId, item.popReceipt);

    // The first delivery fails and will be retried: the run has not ended, so nothing is reported.
    await expect(
      runJob(s.host, job, invocationContext("exportWorker", s.logs, { dequeueCount: 1 })),
    ).rejects.toThrow(/will be retried/);
    expect(named(RUN_EVENT)).toHaveLength(0);
    // The last delivery fails for good; the poison queue's watcher then finds the run ended already.
    await expect(
      runJob(s.host, job, invocationContext("exportWorker", s.logs, { dequeueCount: 5 })),
    ).rejects.toThrow(/poison queue/);
    await recordPoisonedJob(s.host, job, invocationContext("exportPoisoned", s.logs));

    const events = named(RUN_EVENT);
    expect(events).toHaveLength(1);
    const run = (await s.runtime.runs.get(submitted.run.runId))!;
    expect(run.status).toBe("failed");
    expectContractShape(events[0]!, RUN_EVENT_FIELDS, RUN_EVENT);
    expect(events[0]!.attributes).toMatchObject({
      runId: run.runId,
      profile: "nightly-all",
      trigger: "timer",
      status: "failed",
      reason: "upstream",
      rows: 0,
      bytes: 0,
      scheduled: true,
    });
    expect(events[0]!.attributes.durationMs).toBe(run.durationMs);
    expectNoSecretsOrCustomers(s.fixture);
  });

  it("CLI runs (runNow) report too: a profile's and an ad-hoc one, which is never scheduled", async () => {
    const s = await setup({ rows: 300 });
    const [scheduled, onDemand] = s.fixture.settings.profiles;
    const first = await s.runtime.runs.runNow(
      { profile: scheduled!.name, source: "profile", query: scheduled!.query, formats: ["csv"] },
      { trigger: "cli" },
    );
    const second = await s.runtime.runs.runNow(
      { profile: "one-off", source: "adhoc", query: onDemand!.query, formats: ["json"] },
      { trigger: "cli" },
    );
    const third = await s.runtime.runs.runNow(
      { profile: onDemand!.name, source: "profile", query: onDemand!.query, formats: ["csv"] },
      { trigger: "cli" },
    );
    const fourth = await s.runtime.runs.runNow(
      {
        profile: "adhoc-subscriptions",
        source: "adhoc",
        query: validateQuery({}, "subscriptions"),
        formats: ["json"],
      },
      { trigger: "cli" },
    );
    for (const outcome of [first, second, third, fourth]) expect(outcome.kind).toBe("succeeded");

    const events = named(RUN_EVENT);
    expect(events).toHaveLength(4);
    for (const event of events) expectContractShape(event, RUN_EVENT_FIELDS, RUN_EVENT);
    expect(
      events.map((e) => [
        e.attributes.profile,
        e.attributes.dataset,
        e.attributes.trigger,
        e.attributes.scheduled,
      ]),
    ).toEqual([
      ["nightly-all", "referrals", "cli", true],
      ["one-off", "referrals", "cli", false],
      ["on-demand", "referrals", "cli", false],
      ["adhoc-subscriptions", "subscriptions", "cli", false],
    ]);
    expect(events.every((e) => e.attributes.status === "succeeded")).toBe(true);
    expect(events.slice(0, 3).every((e) => e.attributes.rows === 300)).toBe(true);
    expectNoSecretsOrCustomers(s.fixture);
  });
});

describe("what an event may carry", () => {
  it("only the contract's fields, strings redacted, whatever the caller's object holds", () => {
    const telemetry = openTelemetryRunTelemetry(provider);
    const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
    const event = {
      runId: "20260101T000000Z-abcdef",
      profile: "nightly",
      dataset: "referrals",
      trigger: "http",
      status: "failed",
      reason: `upstream Authorization: Bearer ${token}`,
      rows: Number.NaN,
      pages: 2,
      durationMs: 10,
      retries: 0,
      throttled: 0,
      bytes: 0,
      scheduled: true,
      // Not in the contract: must never leave the process.
      customerName: "Contoso Customer Ltd",
      accessToken: token,
    } as RunEvent;
    telemetry.emitRun(event);
    const [record] = named(RUN_EVENT);
    expectContractShape(record!, RUN_EVENT_FIELDS, RUN_EVENT);
    expect(record!.attributes.rows).toBe(0);
    expect(recordText()).not.toContain(token);
    expect(recordText()).not.toContain("Contoso Customer");
    expect(record!.attributes.reason).toMatch(/^upstream Authorization: Bearer \[redacted/);
  });
});

describe("consent.state: the consent report", () => {
  let cloud: LocalCloud | undefined;
  afterEach(async () => {
    await cloud?.close();
    cloud = undefined;
    vi.unstubAllEnvs();
  });

  it("reports the stored sign-in (ok, then consent_required once it is revoked), never a token", async () => {
    // Access tokens inside MSAL's refresh window: every check refreshes, so a revocation shows at once.
    cloud = await startLocalCloud({ rows: 10, seed: 5, registry: { accessTokenLifetimeSeconds: 120 } });
    trustLocalCa(cloud.tls.caFile);
    const id = randomBytes(3).toString("hex");
    const env: Record<string, string> = {
      ...cloud.settingsEnv(),
      EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
      EXPORT_CONTAINER: `exp-consent-${id}`,
      EXPORT_PROFILES: JSON.stringify([{ name: "signed-in" }]),
    };
    // Key Vault's identity is DefaultAzureCredential -> EnvironmentCredential (the process environment).
    for (const name of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
      vi.stubEnv(name, env[name] ?? "");
    const settings = loadSettings(env);
    const quiet = createLogger("error", () => undefined);
    const app = createApp(settings, { logger: quiet, locksContainer: `locks-consent-${id}` });
    await app.locksContainer.createIfNotExists();
    const host: FunctionHost = {
      settings,
      app: () => Promise.resolve(app),
      jobQueueName: app.jobQueueName,
    };
    const context = invocationContext("consentReport", []);

    // No sign-in stored yet.
    expect((await reportConsent(host, context)).state).toBe("consent_required");
    await consentWithDeviceCode(authOptionsFromSettings(settings, app.locksContainer, quiet), {
      onPrompt: () => undefined,
      timeoutSeconds: 60,
    });
    const ok = await reportConsent(host, context);
    cloud.registry.revokeRefreshTokens();
    // The cached access token would still work: a fresh process (app) must refresh, and cannot.
    const fresh = createApp(settings, { logger: quiet, locksContainer: `locks-consent-${id}` });
    const revoked = await reportConsent({ ...host, app: () => Promise.resolve(fresh) }, context);
    expect(ok.state).toBe("ok");
    expect(revoked.state).toBe("consent_required");

    const events = named(CONSENT_EVENT);
    expect(events).toHaveLength(3);
    for (const event of events) expectContractShape(event, CONSENT_EVENT_FIELDS, CONSENT_EVENT);
    expect(events[0]!.attributes).toMatchObject({
      state: "consent_required",
      account: "",
      lastRefreshAt: "",
      ageHours: -1,
    });
    const signedIn = events[1]!.attributes;
    expect(signedIn).toMatchObject({ state: "ok", account: LOCAL_USER.username });
    expect(typeof signedIn.lastRefreshAt).toBe("string");
    expect(Date.parse(signedIn.lastRefreshAt as string)).toBeGreaterThan(Date.now() - 600_000);
    expect(signedIn.ageHours).toBeGreaterThanOrEqual(0);
    expect(signedIn.ageHours).toBeLessThan(1);
    expect(["confidential", "public"]).toContain(signedIn.clientType);
    expect(events[2]!.attributes).toMatchObject({ state: "consent_required", account: LOCAL_USER.username });

    const tokens = cloud.registry.issuedTokenStrings();
    expect(tokens.length).toBeGreaterThan(0);
    expect(findCredentials(recordText(), [...FIXTURE_SECRETS, ...tokens, env.AZURE_CLIENT_SECRET!])).toEqual(
      [],
    );
  });
});
