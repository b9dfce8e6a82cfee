import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../support/canary.js";
import {
  expectLatestConsistent,
  expectPublished,
  expectUnchanged,
  runManifests,
  startFaultFixture,
  storageSnapshot,
  type FaultFixture,
} from "./harness.js";

/**
 * Storage refusing a write while `latest/` is being switched to the new run (here: a lease someone
 * else holds on latest/referrals.json). The run must fail without a manifest of its own, and a reader
 * must never find a latest/ manifest whose files do not match it.
 */
const PROFILE = "faults-publish";

let fx: FaultFixture;

beforeAll(async () => {
  fx = await startFaultFixture({ profile: PROFILE, rows: 2_100 });
  expect((await fx.cli(["export", "--profile", PROFILE])).code).toBe(0);
});

afterAll(async () => {
  await fx.close();
});

describe("a write refused while latest/ is being switched", () => {
  /** Holds a lease on latest/referrals.json, so copying the new JSON file into latest/ is refused. */
  async function withLatestJsonLeased<T>(fn: () => Promise<T>): Promise<T> {
    const lease = fx.container.getBlockBlobClient(`${PROFILE}/latest/referrals.json`).getBlobLeaseClient();
    await lease.acquireLease(-1);
    try {
      return await fn();
    } finally {
      await lease.releaseLease();
    }
  }

  it("the run fails with exit 1, leaves no manifest of its own, latest/ never shows a manifest that does not match its files, and the next run repairs latest/", async () => {
    const before = await storageSnapshot(fx.container);
    const result = await withLatestJsonLeased(() => fx.cli(["export", "--profile", PROFILE]));
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/failed \(storage\)/);
    const after = await storageSnapshot(fx.container);
    expect(runManifests(after)).toEqual(runManifests(before));
    if (after.blobs.has(`${PROFILE}/latest/_manifest.json`)) expectLatestConsistent(after, PROFILE);

    const next = await fx.cli(["export", "--profile", PROFILE]);
    expect(next.code).toBe(0);
    expectPublished(after, await storageSnapshot(fx.container), PROFILE, fx.dataset.rows);
  });

  it("latest/ keeps the previous snapshot, byte for byte", async () => {
    const before = await storageSnapshot(fx.container);
    const result = await withLatestJsonLeased(() => fx.cli(["export", "--profile", PROFILE]));
    expect(result.code).toBe(1);
    expectUnchanged(before, await storageSnapshot(fx.container));
  });
});
