import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startDevHost } from "../../src/devhost/devHost.js";
import { loadSettings, SettingsError } from "../../src/config/settings.js";
import {
  JOB_MAX_DEQUEUE_COUNT,
  JOB_MAX_POLLING_INTERVAL_MS,
  JOB_RETRY_DELAY_SECONDS,
} from "../../src/runs/jobQueue.js";
import { LOCK_LEASE_SECONDS, LOCK_RENEW_INTERVAL_MS } from "../../src/runs/profileLock.js";
import { loadAppSettings } from "../../src/functions/app.js";
import { parseSchedule, ScheduleError } from "../../src/functions/ncrontab.js";

const root = new URL("../../", import.meta.url);
const readJson = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(name, root), "utf8")) as Record<string, unknown>;

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

const GOOD_ENV = {
  EXPORT_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true",
  AZURE_TENANT_ID: "00000000-0000-0000-0000-000000000001",
  PARTNER_CENTER_CLIENT_ID: "00000000-0000-0000-0000-000000000002",
  KEY_VAULT_URL: "https://example-vault.vault.azure.net",
};

function setEnv(values: Record<string, string>): void {
  for (const key of Object.keys(process.env))
    if (/^(EXPORT_|PARTNER_CENTER_|AZURE_|KEY_VAULT|LOCAL_|LOG_LEVEL|TOKEN_CACHE|HTTP_READ_LINK)/.test(key))
      vi.stubEnv(key, undefined);
  for (const [key, value] of Object.entries(values)) vi.stubEnv(key, value);
}

describe("settings validation at start-up", () => {
  it("the Functions entry fails with one message naming every bad setting, before registering anything", async () => {
    setEnv({
      EXPORT_PROFILES: '[{"name":"Nightly Export","groupby":["shoeSize"]}]',
      EXPORT_CONTAINER: "Bad_Container",
      EXPORT_PAGE_SIZE: "50000",
    });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    let failure: unknown;
    try {
      await import("../../src/functions/index.js");
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(Error);
    const message = (failure as Error).message;
    for (const name of [
      "EXPORT_PROFILES[0].name",
      "EXPORT_CONTAINER",
      "EXPORT_PAGE_SIZE",
      "AZURE_TENANT_ID",
      "PARTNER_CENTER_CLIENT_ID",
      "KEY_VAULT_URL",
    ])
      expect(message).toContain(name);
    expect(message.split("\n")[0]).toBe("Invalid settings:");
    // Nothing was registered: @azure/functions never got a call.
    expect(warn.mock.calls.flat().join(" ")).not.toContain("register function");
    warn.mockRestore();
  });

  it("missing storage, a bad schedule and missing auth settings all land in the one message", () => {
    let failure: unknown;
    try {
      loadAppSettings({ EXPORT_SCHEDULE: "0 0 25 * * *", EXPORT_PROFILES: '[{"name":"ok"}]' });
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(SettingsError);
    const problems = (failure as SettingsError).problems.join("\n");
    expect(problems).toContain("EXPORT_STORAGE_ACCOUNT_URL is missing");
    expect(problems).toContain("EXPORT_SCHEDULE");
    expect(problems).toContain("hour '25'");
    expect(problems).toContain("AZURE_TENANT_ID");
  });

  it("a good configuration loads and registers the functions", async () => {
    setEnv(GOOD_ENV);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    await import("../../src/functions/index.js");
    const registered = warn.mock.calls.flat().join(" ");
    for (const name of ["exports", "exportStatus", "exportsNightly", "exportWorker"])
      expect(registered).toContain(`"${name}"`);
    warn.mockRestore();
  });

  it("the dev host refuses a bad setting with the same single message", async () => {
    await expect(
      startDevHost({
        env: {
          EXPORT_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true",
          PARTNER_CENTER_BASE_URL: "http://127.0.0.1:1",
          EXPORT_DEADLINE_SECONDS: "5",
          LOG_LEVEL: "loud",
        },
        port: 0,
      }),
    ).rejects.toThrow(/Invalid settings:[\s\S]*EXPORT_DEADLINE_SECONDS[\s\S]*LOG_LEVEL/);
  });
});

describe("host.json and local.settings.sample.json", () => {
  it("host.json carries the queue behaviour the worker and the dev host assume", () => {
    const host = readJson("host.json") as {
      version: string;
      functionTimeout: string;
      extensionBundle: { id: string; version: string };
      extensions: { queues: Record<string, unknown> };
    };
    expect(host.version).toBe("2.0");
    expect(host.extensionBundle).toEqual({
      id: "Microsoft.Azure.Functions.ExtensionBundle",
      version: "[4.*, 5.0.0)",
    });
    const q = host.extensions.queues;
    expect(q.maxDequeueCount).toBe(JOB_MAX_DEQUEUE_COUNT);
    expect(q.batchSize).toBe(1);
    expect(q.newBatchThreshold).toBe(0);
    expect(q.messageEncoding).toBe("base64");
    const seconds = (t: unknown): number => {
      const [h, m, s] = String(t).split(":").map(Number);
      return (h ?? 0) * 3600 + (m ?? 0) * 60 + (s ?? 0);
    };
    expect(seconds(q.visibilityTimeout)).toBe(JOB_RETRY_DELAY_SECONDS);
    expect(seconds(q.maxPollingInterval) * 1000).toBe(JOB_MAX_POLLING_INTERVAL_MS);
    // The function outlives the longest export the settings allow by default (30 min) with room for clean-up.
    expect(seconds(host.functionTimeout)).toBeGreaterThanOrEqual(
      loadSettings(GOOD_ENV).deadlineSeconds + 600,
    );
    expect(LOCK_RENEW_INTERVAL_MS * 3).toBeLessThanOrEqual(LOCK_LEASE_SECONDS * 1000);
  });

  it("the sample names every setting, loads cleanly and targets Azurite", () => {
    const sample = readJson("local.settings.sample.json") as { Values: Record<string, string> };
    const source = readFileSync(new URL("src/config/settings.ts", root), "utf8");
    // The setting names are the envSchema keys: the only two-space-indented UPPER_CASE keys in the file.
    const names = [...source.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(20);
    for (const name of [...names, "AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME"])
      expect(sample.Values).toHaveProperty(name);
    expect(sample.Values.FUNCTIONS_WORKER_RUNTIME).toBe("node");
    expect(sample.Values.AzureWebJobsStorage).toBe("UseDevelopmentStorage=true");
    const { settings, schedule } = loadAppSettings(sample.Values);
    expect(settings.profiles.map((p) => p.name)).toEqual(["all-referrals", "won-deals"]);
    expect(schedule.expression).toBe("0 0 2 * * *");
  });
});

describe("NCRONTAB schedules", () => {
  const at = (iso: string): Date => new Date(iso);

  it("finds the next and previous nightly tick in UTC", () => {
    const s = parseSchedule("0 0 2 * * *");
    expect(s.next(at("2026-11-24T01:59:59Z")).toISOString()).toBe("2026-11-24T02:00:00.000Z");
    expect(s.next(at("2026-11-24T02:00:00Z")).toISOString()).toBe("2026-11-25T02:00:00.000Z");
    expect(s.previous(at("2026-11-24T02:00:00Z")).toISOString()).toBe("2026-11-24T02:00:00.000Z");
    expect(s.previous(at("2026-11-24T01:59:59Z")).toISOString()).toBe("2026-11-23T02:00:00.000Z");
  });

  it("reads steps, ranges, lists and names; day and weekday must both match", () => {
    expect(parseSchedule("*/15 * * * * *").next(at("2026-11-24T10:00:07Z")).toISOString()).toBe(
      "2026-11-24T10:00:15.000Z",
    );
    expect(parseSchedule("0 30 9 * * MON-FRI").next(at("2026-11-28T12:00:00Z")).toISOString()).toBe(
      "2026-11-30T09:30:00.000Z",
    );
    expect(parseSchedule("0 0 6,18 * * *").next(at("2026-11-24T07:00:00Z")).toISOString()).toBe(
      "2026-11-24T18:00:00.000Z",
    );
    expect(parseSchedule("0 0 0 1 JAN,jul *").next(at("2026-02-01T00:00:00Z")).toISOString()).toBe(
      "2026-07-01T00:00:00.000Z",
    );
    // Friday the 13th.
    expect(parseSchedule("0 0 0 13 * 5").next(at("2026-01-01T00:00:00Z")).toISOString()).toBe(
      "2026-02-13T00:00:00.000Z",
    );
    expect(parseSchedule("0 0 0 29 2 *").next(at("2026-03-01T00:00:00Z")).toISOString()).toBe(
      "2028-02-29T00:00:00.000Z",
    );
  });

  it("rejects what the timer trigger would not run", () => {
    for (const bad of [
      "0 2 * * *",
      "0 0 24 * * *",
      "0 0 0 30 2 *",
      "0 0 2 * * 8",
      "x 0 2 * * *",
      "0 0 5-2 * * *",
      "*/0 * * * * *",
    ])
      expect(() => parseSchedule(bad), bad).toThrow(ScheduleError);
  });
});
