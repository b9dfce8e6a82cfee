import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../support/canary.js";
import { startAzurite, type AzuriteHandle } from "../../src/simulator/azurite.js";
import {
  expectLatestConsistent,
  expectPublished,
  expectUnchanged,
  runManifests,
  blobEtags,
  startFaultFixture,
  storageSnapshot,
  type FaultFixture,
  type StorageSnapshot,
} from "./harness.js";

/**
 * Blob Storage going away in the middle of an export: this file runs its own Azurite with its data
 * on disk, stops it while the run is uploading and starts it again on the same ports. The run
 * either publishes every row or fails with nothing of it visible; latest/ keeps the previous
 * snapshot either way, and the next run publishes.
 */
const PROFILE = "faults-storage";
// 12,500 rows in 1,500-row pages (nine pages, the last one short): the JSON file passes the 4 MB
// upload block size mid-run, so blocks are staged before the outage.
const ROWS = 12_500;
const PAGES = 9;

let dir: string;
let azurite: AzuriteHandle;
let fx: FaultFixture;
/** What each outage led to, printed for the report. */
const outcomes: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "referrals-export-azurite-"));
  azurite = await startAzurite({ location: dir });
  fx = await startFaultFixture({
    profile: PROFILE,
    rows: ROWS,
    latencyMs: 100,
    connectionString: azurite.connectionString,
    env: { EXPORT_PAGE_SIZE: "1500", EXPORT_PREFETCH_PAGES: "1" },
  });
  // A first snapshot in latest/, which every outage below must leave complete.
  expect((await fx.cli(["export", "--profile", PROFILE])).code).toBe(0);
});

afterAll(async () => {
  console.info(`storage outages: ${outcomes.join("; ")}`);
  await fx.close();
  await azurite.stop();
  await rm(dir, { recursive: true, force: true });
});

async function restartAzurite(downMs: number): Promise<void> {
  await azurite.stop();
  await new Promise((resolve) => setTimeout(resolve, downMs));
  azurite = await startAzurite({ location: dir, blobPort: azurite.blobPort, queuePort: azurite.queuePort });
}

/** Polls until a blob of the running export exists with uncommitted blocks only; returns its name. */
async function waitForStagedBlock(before: StorageSnapshot): Promise<string> {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    for (const name of (await blobEtags(fx.container)).keys())
      if (!before.blobs.has(name) && !(await fx.container.getBlobClient(name).exists())) return name;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the export never staged a block");
}

describe("Azurite stopped mid-upload and started again", () => {
  it("Azurite down for a few seconds mid-upload: the run publishes every row or fails cleanly; latest/ stays complete", async () => {
    const downMs = 2_000;
    const before = await storageSnapshot(fx.container);
    expectLatestConsistent(before, PROFILE);
    const run = fx.cli(["export", "--profile", PROFILE]);
    // Mid-upload: the run has staged a block of a file that is not committed yet (a data file, or
    // the change feed's baseline, whose blocks are smaller and so often staged first).
    const staged = await waitForStagedBlock(before);
    expect(staged).toMatch(
      new RegExp(
        `^${PROFILE}/snapshot_date=[^/]+/run_id=[^/]+/(referrals\\.(csv|json)|changes\\.baseline\\.tsv)$`,
      ),
    );
    await restartAzurite(downMs);
    const result = await run;

    const after = await storageSnapshot(fx.container);
    const latest = expectLatestConsistent(after, PROFILE);
    if (result.code === 0) {
      expectPublished(before, after, PROFILE, fx.dataset.rows);
      expect(latest.rowCount).toBe(ROWS);
      expect(latest.pages).toBe(PAGES);
    } else {
      expect(result.code).toBe(1);
      expect(result.err).toMatch(/failed \(storage\)/);
      expect(result.err).toMatch(/latest\/ still holds the previous snapshot/);
      expectUnchanged(before, after);
      expect(runManifests(after)).toHaveLength(runManifests(before).length);
    }
    outcomes.push(result.code === 0 ? "published" : `failed: ${result.err.split("\n")[0] ?? ""}`);

    // The next run, with storage up, publishes.
    const beforeNext = await storageSnapshot(fx.container);
    const next = await fx.cli(["export", "--profile", PROFILE]);
    expect(next.err).toBe("");
    expect(next.code).toBe(0);
    expectPublished(beforeNext, await storageSnapshot(fx.container), PROFILE, fx.dataset.rows);
    // About 25 s on an idle 2-core machine (the Storage SDK's retry waits 4 s, then 8 s); room for a loaded one.
  }, 120_000);
});
