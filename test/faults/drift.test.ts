import { randomBytes, randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { recordOutput } from "../support/canary.js";
import { loadSettings } from "../../src/config/settings.js";
import { newRunId } from "../../src/export/runId.js";
import { createLogger } from "../../src/logging/logger.js";
import type { RunRecord } from "../../src/runs/runStore.js";
import type { Referral } from "../../src/simulator/dataset.js";
import { createApp } from "../../src/app/app.js";
import { fixtureCredential } from "../support/exportFixture.js";
import {
  csvRecords,
  exportedRow,
  expectLatestConsistent,
  expectPublished,
  expectUnchanged,
  newReferral,
  runManifests,
  startFaultFixture,
  storageSnapshot,
  type FaultFixture,
  type FaultFixtureOptions,
  type StorageSnapshot,
} from "./harness.js";

/**
 * Silent truncation and drift. Partner Center sends fewer rows than its TotalCount, or the data
 * changes between pages so that `skip` paging repeats or misses rows. The export notices (ids
 * de-duplicated and counted, totals compared), says so in the manifest, and by default refuses to
 * publish; with EXPORT_ON_COUNT_MISMATCH=warn it publishes with the warning. Never a silently short file.
 */
const PROFILE = "faults-drift";
const ROWS = 2_100; // five 500-row pages, the last one short
const WARN = { EXPORT_ON_COUNT_MISMATCH: "warn" };

let fx: FaultFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

async function start(options: Partial<FaultFixtureOptions> = {}): Promise<FaultFixture> {
  fx = await startFaultFixture({
    profile: PROFILE,
    rows: ROWS,
    ...options,
    env: { EXPORT_PREFETCH_PAGES: "1", ...options.env },
  });
  return fx;
}

/** A first clean run, so there is a previous snapshot in latest/ to keep. */
async function baseline(f: FaultFixture): Promise<StorageSnapshot> {
  expect((await f.cli(["export", "--profile", PROFILE])).code).toBe(0);
  return storageSnapshot(f.container);
}

/** The rows a warn-mode run published (JSON file of the newest run), checked against latest/. */
function publishedRows(
  before: StorageSnapshot,
  after: StorageSnapshot,
): {
  rows: Record<string, unknown>[];
  manifest: ReturnType<typeof runManifests>[number];
} {
  const known = new Set(runManifests(before).map((m) => m.runId));
  const fresh = runManifests(after).filter((m) => !known.has(m.runId));
  expect(fresh).toHaveLength(1);
  const manifest = fresh[0]!;
  expect(expectLatestConsistent(after, PROFILE)).toEqual(manifest);
  const json = manifest.files.find((f) => f.format === "json")!;
  const rows = JSON.parse(after.blobs.get(json.path)!.toString("utf8")) as Record<string, unknown>[];
  const csv = csvRecords(after.blobs.get(manifest.files.find((f) => f.format === "csv")!.path)!);
  expect(csv.map((r) => r.id)).toEqual(rows.map((r) => r.id));
  expect(rows).toHaveLength(manifest.rowCount);
  expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  return { rows, manifest };
}

describe("Partner Center sends fewer rows than its TotalCount (short pages)", () => {
  it.each([
    ["the first page", "short@1", 1_850], // a short first page also ends paging
    ["a middle page", "short@2", 250],
    ["the last page", "short@5", 50],
  ])(
    "short %s: the run fails as count_mismatch naming both counts, storage as it was",
    async (_where, faults, lost) => {
      const f = await start();
      const before = await baseline(f);
      f.setFaults(faults);
      const result = await f.cli(["export", "--profile", PROFILE]);
      expect(result.code).toBe(1);
      expect(result.err).toMatch(/failed \(count_mismatch\)/);
      expect(result.err).toContain(
        `Partner Center reported ${ROWS} rows but the export received ${ROWS - lost}`,
      );
      expect(result.err).toMatch(/EXPORT_ON_COUNT_MISMATCH=warn/);
      const after = await storageSnapshot(f.container);
      expectUnchanged(before, after);
      expect(after.uncommitted).toEqual([]);
    },
  );

  it("with EXPORT_ON_COUNT_MISMATCH=warn the short run is published, and the manifest and CLI say it is short", async () => {
    const f = await start({ env: WARN });
    const before = await baseline(f);
    f.setFaults("short@2");
    const result = await f.cli(["export", "--profile", PROFILE]);
    expect(result.code).toBe(0);
    expect(result.err).toContain(
      `warning: Partner Center reported ${ROWS} rows but the export received ${ROWS - 250}`,
    );
    const { rows, manifest } = publishedRows(before, await storageSnapshot(f.container));
    expect(manifest.rowCount).toBe(ROWS - 250);
    expect(manifest.totalCountReported).toBe(ROWS);
    expect(manifest.integrity.countMatchesTotal).toBe(false);
    expect(manifest.integrity.warnings).toEqual([
      `Partner Center reported ${ROWS} rows but the export received ${ROWS - 250}`,
    ]);
    // Exactly the rows of the half page that never arrived are missing: 750..999.
    const expected = [...f.dataset.rows.slice(0, 750), ...f.dataset.rows.slice(1000)];
    expect(rows).toEqual(expected.map(exportedRow));
  });

  it("a short page is caught when paging follows @nextLink too", async () => {
    const f = await start({ nextLinkMode: "relative" });
    const before = await baseline(f);
    f.setFaults("short@3");
    const result = await f.cli(["export", "--profile", PROFILE]);
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      `Partner Center reported ${ROWS} rows but the export received ${ROWS - 250}`,
    );
    expectUnchanged(before, await storageSnapshot(f.container));
  });

  it("without a TotalCount (bare array pages) the manifest does not claim the count was checked", async () => {
    const f = await start({ envelope: "bare" });
    const result = await f.cli(["export", "--profile", PROFILE]);
    expect(result.code).toBe(0);
    const after = await storageSnapshot(f.container);
    const manifest = expectLatestConsistent(after, PROFILE);
    expect(manifest.rowCount).toBe(ROWS);
    expect(manifest.totalCountReported).toBeNull();
    expect(manifest.integrity.countMatchesTotal).toBeNull();
  });
});

describe("the data changes between pages", () => {
  /** Mutates the data set just before the simulator answers request `at` (page 2 with one page at a time). */
  function before(
    at: number,
    change: (rows: FaultFixture["dataset"]) => void,
  ): FaultFixtureOptions["beforeRequest"] {
    return (n) => {
      if (n === at && fx) change(fx.dataset);
    };
  }
  // Baseline runs make `at` count from the second run: the baseline takes five requests.
  const SECOND_RUN_PAGE_2 = 5 + 2;

  const cases: {
    name: string;
    change: (d: FaultFixture["dataset"]) => void;
    message: string;
    /** Rows a warn-mode run publishes, from the rows before the change. */
    published: (original: readonly Referral[]) => Referral[];
    duplicates: number;
    countMatches: boolean;
  }[] = [
    {
      name: "a row inserted behind the cursor (skip paging repeats a row)",
      change: (d) => {
        d.insertAt(10, newReferral(1));
      },
      message: "1 duplicate referral id(s) arrived (the data changed while paging) and were removed",
      // orig[499] arrives twice and is kept once; the new row sits where paging had already passed.
      published: (o) => [...o],
      duplicates: 1,
      countMatches: true,
    },
    {
      name: "a row deleted behind the cursor (skip paging misses a row)",
      change: (d) => {
        d.removeAt(10);
      },
      message: `Partner Center reported ${ROWS} rows but the export received ${ROWS - 1}`,
      // orig[10] was read before it went; orig[500] slid back onto page 1 after it was read.
      published: (o) => [...o.slice(0, 500), ...o.slice(501)],
      duplicates: 0,
      countMatches: false,
    },
    {
      name: "a row inserted ahead of the cursor",
      change: (d) => {
        d.insertAt(1200, newReferral(2));
      },
      message: `Partner Center reported ${ROWS} rows but the export received ${ROWS + 1}`,
      published: (o) => [...o.slice(0, 1200), newReferral(2), ...o.slice(1200)],
      duplicates: 0,
      countMatches: false,
    },
    {
      name: "a row deleted ahead of the cursor",
      change: (d) => {
        d.removeAt(1200);
      },
      message: `Partner Center reported ${ROWS} rows but the export received ${ROWS - 1}`,
      published: (o) => [...o.slice(0, 1200), ...o.slice(1201)],
      duplicates: 0,
      countMatches: false,
    },
  ];

  it.each(cases)(
    "$name: fails as count_mismatch by default, storage as it was",
    async ({ change, message }) => {
      const f = await start({ beforeRequest: before(SECOND_RUN_PAGE_2, change) });
      const snapshot = await baseline(f);
      const result = await f.cli(["export", "--profile", PROFILE]);
      expect(result.code).toBe(1);
      expect(result.err).toMatch(/failed \(count_mismatch\)/);
      expect(result.err).toContain(message);
      expect(result.err).toContain("The run was not published");
      const after = await storageSnapshot(f.container);
      expectUnchanged(snapshot, after);
      expect(after.uncommitted).toEqual([]);
    },
  );

  it.each(cases)(
    "$name: with warn, published with unique ids and the integrity record in the manifest",
    async ({ change, message, published, duplicates, countMatches }) => {
      const f = await start({ env: WARN, beforeRequest: before(SECOND_RUN_PAGE_2, change) });
      const snapshot = await baseline(f);
      const original = [...f.dataset.rows];
      const result = await f.cli(["export", "--profile", PROFILE]);
      expect(result.code).toBe(0);
      expect(result.err).toContain(`warning: ${message}`);
      const { rows, manifest } = publishedRows(snapshot, await storageSnapshot(f.container));
      expect(rows).toEqual(published(original).map(exportedRow));
      expect(manifest.totalCountReported).toBe(ROWS);
      expect(manifest.integrity).toEqual({
        duplicatesRemoved: duplicates,
        countMatchesTotal: countMatches,
        warnings: [message],
      });
    },
  );

  it("without drift the same setup publishes the data set exactly (the hook itself changes nothing)", async () => {
    const f = await start({ beforeRequest: before(SECOND_RUN_PAGE_2, () => undefined) });
    const snapshot = await baseline(f);
    expect((await f.cli(["export", "--profile", PROFILE])).code).toBe(0);
    expectPublished(snapshot, await storageSnapshot(f.container), PROFILE, f.dataset.rows);
  });
});

describe("a queued (HTTP or timer) run with drift", () => {
  /** Runs one job through the run service (as the queue worker does) and returns the run record. */
  async function runQueued(
    f: FaultFixture,
    env: Record<string, string> = {},
  ): Promise<RunRecord | undefined> {
    const settings = loadSettings({ ...f.env, ...env });
    const logger = createLogger("debug", (line) => {
      recordOutput(`${line}\n`); // checked by the log canary, kept off the console
    });
    const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
    const runtime = createApp(settings, {
      partnerCenterCredential: fixtureCredential,
      logger,
      runsContainer: `runs-drift-${id}`,
      locksContainer: `locks-drift-${id}`,
      jobQueue: `jobs-drift-${id}`,
    });
    await runtime.ensureStorage();
    try {
      const runId = newRunId();
      const outcome = await runtime.runs.execute(
        {
          runId,
          profile: PROFILE,
          trigger: "http",
          query: { filter: null, groupby: null, aggregationLevel: null },
          formats: ["csv", "json"],
          correlationId: randomUUID(),
        },
        { dequeueCount: 1 },
      );
      // count_mismatch is final: the job is not handed back for another attempt.
      expect(["succeeded", "failed"]).toContain(outcome.kind);
      return await runtime.runs.get(runId);
    } finally {
      await runtime.jobs.queue.deleteIfExists();
      await runtime.jobs.poisonQueue.deleteIfExists();
    }
  }

  it("is marked failed with reason count_mismatch and not retried; with warn it succeeds with the warning", async () => {
    const f = await start({ faults: "short@2" });
    const failed = await runQueued(f);
    expect(failed).toMatchObject({ status: "failed", error: { reason: "count_mismatch" } });
    expect(failed!.error!.message).toContain(
      `Partner Center reported ${ROWS} rows but the export received ${ROWS - 250}`,
    );
    expect((await storageSnapshot(f.container)).blobs.size).toBe(0);

    f.setFaults("short@2");
    const warned = await runQueued(f, WARN);
    expect(warned).toMatchObject({ status: "succeeded", rowCount: ROWS - 250 });
    expect(warned!.warnings).toEqual([
      `Partner Center reported ${ROWS} rows but the export received ${ROWS - 250}`,
    ]);
  });
});
