import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import "../support/canary.js";
import { ExportError } from "../../src/export/errors.js";
import { runExport } from "../../src/export/exporter.js";
import { newRunId } from "../../src/export/runId.js";
import { PartnerCenterClient } from "../../src/partnerCenter/client.js";
import { validateQuery } from "../../src/partnerCenter/query.js";
import { fixtureCredential } from "../support/exportFixture.js";
import {
  expectPublished,
  expectUnchanged,
  startFaultFixture,
  storageSnapshot,
  type FaultFixture,
} from "./harness.js";

/**
 * Partner Center misbehaving: throttling, server errors, gateways, resets, cut-off bodies, slow
 * pages and a deadline. Every run either publishes exactly the simulator's rows or fails with
 * exit 1, leaving storage as it was.
 */
const PROFILE = "faults-upstream";
// 2,100 rows in 500-row pages: five pages, the last one short, so paging ends without an extra request.
const ROWS = 2_100;
const PAGES = 5;

let fx: FaultFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe("upstream faults that clear: the run recovers with exactly the simulator's rows", () => {
  const cases: {
    name: string;
    faults: string;
    retries: number;
    throttled: number;
    env?: Record<string, string>;
    minMs?: number;
  }[] = [
    { name: "a burst of 429 with Retry-After: 0", faults: "429:0@2-4", retries: 3, throttled: 3 },
    {
      name: "a 429 with Retry-After: 1 (honoured)",
      faults: "429:1@2",
      retries: 1,
      throttled: 1,
      minMs: 1_000,
    },
    { name: "429s without Retry-After", faults: "429:none@2-3", retries: 2, throttled: 2 },
    { name: "a 500 with Partner Center's error body", faults: "500@2", retries: 1, throttled: 0 },
    { name: "502s from a gateway (HTML body)", faults: "502@2-3", retries: 2, throttled: 0 },
    { name: "a 503", faults: "503@3", retries: 1, throttled: 0 },
    { name: "a 504 on the last page", faults: "504@5", retries: 1, throttled: 0 },
    { name: "connections reset mid-body", faults: "reset@2-3", retries: 2, throttled: 0 },
    { name: "truncated JSON bodies", faults: "truncate@2-3", retries: 2, throttled: 0 },
    {
      name: "a slow page (within the request timeout)",
      faults: "slow:1500@2",
      retries: 0,
      throttled: 0,
      minMs: 1_500,
    },
    {
      name: "three different faults on the first page in a row",
      faults: "503@1,reset@2,429:0@3",
      retries: 3,
      throttled: 1,
    },
    {
      name: "faults while four pages are fetched ahead",
      faults: "503@2-3,429:0@4,reset@6",
      retries: 4,
      throttled: 1,
      env: { EXPORT_PREFETCH_PAGES: "4" },
    },
  ];

  it.each(cases)("$name ($faults)", async ({ faults, retries, throttled, env, minMs }) => {
    fx = await startFaultFixture({
      profile: PROFILE,
      rows: ROWS,
      faults,
      env: { EXPORT_PREFETCH_PAGES: "1", ...env },
    });
    const before = await storageSnapshot(fx.container);
    const started = Date.now();
    const result = await fx.cli(["export", "--profile", PROFILE]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    if (minMs !== undefined) expect(Date.now() - started).toBeGreaterThanOrEqual(minMs);

    const after = await storageSnapshot(fx.container);
    const manifest = expectPublished(before, after, PROFILE, fx.dataset.rows);
    expect(after.uncommitted).toEqual([]);
    expect(manifest.pages).toBe(PAGES);
    expect(manifest.partnerCenter.retries).toBe(retries);
    expect(manifest.partnerCenter.throttled).toBe(throttled);
    expect(manifest.partnerCenter.requestIds).toHaveLength(PAGES);
    // Every fault the simulator injected cost one retry, and a retry reuses its request's MS-RequestId.
    expect(fx.injected.filter((k) => k !== "slow")).toHaveLength(retries);
    const requests = fx.referralsRequests();
    expect(requests).toHaveLength(PAGES + retries);
    expect(new Set(requests.map((r) => r.headers["ms-requestid"])).size).toBe(PAGES);
    expect(new Set(requests.map((r) => r.headers["ms-correlationid"])).size).toBe(1);
  });
});

describe("request timeouts", () => {
  /** The export of the CLI, with a Partner Center client whose per-request timeout is short. */
  async function exportWithRequestTimeout(f: FaultFixture, requestTimeoutMs: number): Promise<unknown> {
    const client = new PartnerCenterClient({
      baseUrl: f.settings.partnerCenterBaseUrl,
      credential: fixtureCredential,
      pageSize: 500,
      prefetchPages: 1,
      maxRetries: 3,
      requestTimeoutMs,
      retryBaseDelayMs: 20,
    });
    return runExport(
      {
        runId: newRunId(),
        profile: PROFILE,
        source: "profile",
        trigger: "cli",
        query: validateQuery({}),
        formats: ["csv", "json"],
        correlationId: randomUUID(),
      },
      f.services.exportEnvironment({ client }),
    ).catch((error: unknown) => error);
  }

  it("a page slower than the request timeout every time: the run fails cleanly, nothing published", async () => {
    fx = await startFaultFixture({ profile: PROFILE, rows: ROWS, faults: "slow:3000@2-1000" });
    const before = await storageSnapshot(fx.container);
    const outcome = await exportWithRequestTimeout(fx, 500);
    expect(outcome).toBeInstanceOf(ExportError);
    const after = await storageSnapshot(fx.container);
    expectUnchanged(before, after);
    expect(after.uncommitted).toEqual([]);
  });

  it("a page slower than the request timeout once is retried and the run publishes every row", async () => {
    fx = await startFaultFixture({ profile: PROFILE, rows: ROWS, faults: "slow:3000@2" });
    const before = await storageSnapshot(fx.container);
    const outcome = await exportWithRequestTimeout(fx, 500);
    expect(outcome).not.toBeInstanceOf(Error);
    expectPublished(before, await storageSnapshot(fx.container), PROFILE, fx.dataset.rows);
  });

  it("a page that keeps timing out fails as an upstream problem, not as a cancelled run", async () => {
    fx = await startFaultFixture({ profile: PROFILE, rows: ROWS, faults: "slow:3000@2-1000" });
    const outcome = await exportWithRequestTimeout(fx, 500);
    expect(outcome).toBeInstanceOf(ExportError);
    expect((outcome as ExportError).reason).toBe("upstream");
  });
});
