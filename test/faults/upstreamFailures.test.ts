import { afterEach, describe, expect, it } from "vitest";
import "../support/canary.js";
import {
  expectPublished,
  expectUnchanged,
  startFaultFixture,
  storageSnapshot,
  type FaultFixture,
} from "./harness.js";

/**
 * Partner Center faults that do not clear, and a deadline that passes mid-run: exit 1 with the
 * reason, nothing published, storage exactly as before (latest/ untouched, nothing of the run left),
 * and the profile free for the next run.
 */
const PROFILE = "faults-upstream-fail";
// 2,100 rows in 500-row pages: five pages, the last one short.
const ROWS = 2_100;
const PAGES = 5;

let fx: FaultFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe("upstream faults that do not clear: exit 1, nothing published, storage as it was", () => {
  const cases: { name: string; faults: string; message: RegExp; maxMs?: number }[] = [
    {
      name: "500 on every retry of the first page",
      faults: "500@1-1000",
      message: /failed with 500 until the retries ran out/,
    },
    { name: "502 from page 2 on", faults: "502@2-1000", message: /failed with 502/ },
    { name: "503 from page 2 on", faults: "503@2-1000", message: /failed with 503.*temporarily unavailable/ },
    { name: "504 from page 3 on", faults: "504@3-1000", message: /failed with 504/ },
    { name: "resets from page 2 on", faults: "reset@2-1000", message: /Could not reach Partner Center/ },
    {
      name: "truncated bodies from page 2 on",
      faults: "truncate@2-1000",
      message: /not complete JSON, even after retries/,
    },
    { name: "429 from page 2 on", faults: "429:0@2-1000", message: /kept throttling \(429\)/ },
    {
      name: "a Retry-After past the deadline (gives up at once instead of sleeping an hour)",
      faults: "429:3600@2",
      message: /kept throttling \(429\).*Try again in 3600 seconds/,
      maxMs: 10_000,
    },
  ];

  it.each(cases)("$name ($faults)", async ({ faults, message, maxMs }) => {
    fx = await startFaultFixture({
      profile: PROFILE,
      rows: ROWS,
      env: { EXPORT_MAX_RETRIES: "2", EXPORT_PREFETCH_PAGES: "1" },
    });
    expect((await fx.cli(["export", "--profile", PROFILE])).code).toBe(0);
    const before = await storageSnapshot(fx.container);

    fx.setFaults(faults);
    const started = Date.now();
    const failed = await fx.cli(["export", "--profile", PROFILE]);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/^Export \S+ failed \(upstream\): /);
    expect(failed.err).toMatch(message);
    expect(failed.err).toMatch(/Nothing was published; latest\/ still holds the previous snapshot\./);
    if (maxMs !== undefined) expect(Date.now() - started).toBeLessThan(maxMs);
    // The failing page was tried 1 + EXPORT_MAX_RETRIES times, unless Retry-After ruled a retry out.
    expect(fx.injected.length).toBe(maxMs === undefined ? 3 : 1);

    const after = await storageSnapshot(fx.container);
    expectUnchanged(before, after);
    expect(after.uncommitted).toEqual([]);

    // The profile lock was released: the next run starts at once and publishes.
    fx.setFaults(undefined);
    const next = await fx.cli(["export", "--profile", PROFILE]);
    expect(next.code).toBe(0);
    expectPublished(after, await storageSnapshot(fx.container), PROFILE, fx.dataset.rows);
  });
});

describe("a deadline that passes mid-run", () => {
  it("a deadline that passes while a page hangs fails the run as 'deadline' within the deadline, storage as it was", async () => {
    fx = await startFaultFixture({
      profile: PROFILE,
      rows: ROWS,
      env: { EXPORT_DEADLINE_SECONDS: "10", EXPORT_PREFETCH_PAGES: "1" },
    });
    expect((await fx.cli(["export", "--profile", PROFILE])).code).toBe(0);
    const before = await storageSnapshot(fx.container);

    fx.setFaults("slow:60000@3");
    const started = Date.now();
    const result = await fx.cli(["export", "--profile", PROFILE]);
    const elapsed = Date.now() - started;
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/failed \(deadline\): The export deadline passed/);
    expect(elapsed).toBeGreaterThanOrEqual(9_500);
    expect(elapsed).toBeLessThan(20_000);
    expect(fx.requestCount).toBe(PAGES + 3); // the baseline run, then pages 1, 2 and the hanging page 3
    const after = await storageSnapshot(fx.container);
    expectUnchanged(before, after);
    expect(after.uncommitted).toEqual([]);
  });
});

describe("a row nested deeper than any row should be", () => {
  it("a 200,000-deep extra field ends the run as 'upstream', naming the page, storage as it was", async () => {
    const deep = `"extra":${"[".repeat(200_000)}1${"]".repeat(200_000)}`;
    let served = false;
    fx = await startFaultFixture({
      profile: PROFILE,
      rows: ROWS,
      env: { EXPORT_PREFETCH_PAGES: "1" },
      // Row 700 sits on the second page (500-row pages), once the deep row is switched on.
      extraRowJson: (position) => (served && position === 700 ? deep : undefined),
    });
    expect((await fx.cli(["export", "--profile", PROFILE])).code).toBe(0);
    const before = await storageSnapshot(fx.container);

    served = true;
    const failed = await fx.cli(["export", "--profile", PROFILE]);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(
      /^Export \S+ failed \(upstream\): Partner Center sent an unexpected page 1: a row nests deeper than 64 levels \(row 200\)/,
    );
    expect(failed.err).not.toMatch(/call stack/i);
    const after = await storageSnapshot(fx.container);
    expectUnchanged(before, after);
    expect(after.uncommitted).toEqual([]);
  });
});
