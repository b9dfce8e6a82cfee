import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../support/canary.js";
import type { Manifest } from "../../src/export/manifest.js";
import type { Referral } from "../../src/simulator/dataset.js";
import type { FaultKind } from "../../src/simulator/faults.js";
import {
  ArrayDataset,
  blobEtags,
  csvRecords,
  exportedRow,
  sha256,
  startFaultFixture,
  type FaultFixture,
} from "./harness.js";

/**
 * Soak: 50 consecutive exports of changing small data sets (2,000-4,000 rows in 700-row pages,
 * four pages fetched ahead) while the simulator injects a seeded random fault into about 10% of
 * requests. Every run must be complete and exact, or cleanly failed (storage untouched); latest/
 * must always parse and match its manifest; heap and open handles must stay flat.
 */
const PROFILE = "faults-soak";
const RUNS = 50;
const SEED = 20_261_125;
/** About 10% of requests in all: the first matching rule wins, so slightly less than the 10% sum. */
const FAULTS = "429:0@4%,503@1%,500@1%,502@0.5%,504@0.5%,reset@1%,truncate@1%,short@1%";
/** Faults that are retried; `short` is not (a 200 with fewer rows), so it must fail the run as count_mismatch. */
const RETRIED: ReadonlySet<FaultKind> = new Set(["429", "500", "502", "503", "504", "reset", "truncate"]);

interface Tally {
  runs: number;
  complete: number;
  cleanlyFailed: number;
  dataLost: number;
  faults: Partial<Record<FaultKind, number>>;
  requests: number;
}

let fx: FaultFixture;
let pool: Referral[];
const tally: Tally = { runs: 0, complete: 0, cleanlyFailed: 0, dataLost: 0, faults: {}, requests: 0 };
const resources: { heapMb: number[]; rssMb: number[]; handles: string[] } = {
  heapMb: [],
  rssMb: [],
  handles: [],
};

/** A real garbage collection, so heap figures compare like with like. */
const gc = ((): (() => void) => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

beforeAll(async () => {
  const source = ArrayDataset.generated(8_000, SEED % 1000);
  pool = source.rows;
  fx = await startFaultFixture({
    profile: PROFILE,
    dataset: new ArrayDataset(pool.slice(0, 3_000)),
    faults: FAULTS,
    faultSeed: SEED,
    env: { EXPORT_PAGE_SIZE: "700", EXPORT_PREFETCH_PAGES: "4" },
  });
});

afterAll(async () => {
  console.info(
    `soak: ${tally.runs} runs, ${tally.complete} complete, ${tally.cleanlyFailed} cleanly failed, ` +
      `${tally.dataLost} with data lost; ${Object.values(tally.faults).reduce((a, b) => a + b, 0)} faults injected ` +
      `${JSON.stringify(tally.faults)} in ${tally.requests} requests; heap MB ${resources.heapMb.join(" -> ")}, ` +
      `rss MB ${resources.rssMb.join(" -> ")}, handles ${resources.handles.join(" -> ")}`,
  );
  await fx.close(); // closing twice is harmless
});

async function download(name: string): Promise<Buffer> {
  return fx.container.getBlobClient(name).downloadToBuffer();
}

/** latest/ parses, and each file matches its manifest's bytes and sha256; returns the files too. */
async function checkLatest(): Promise<{ manifest: Manifest; bodies: Map<string, Buffer> }> {
  const manifest = JSON.parse(
    (await download(`${PROFILE}/latest/_manifest.json`)).toString("utf8"),
  ) as Manifest;
  const bodies = new Map<string, Buffer>();
  for (const file of manifest.files) {
    const body = await download(`${PROFILE}/latest/referrals.${file.format}`);
    expect(body.length).toBe(file.bytes);
    expect(sha256(body)).toBe(file.sha256);
    bodies.set(file.format, body);
  }
  return { manifest, bodies };
}

/**
 * Handles by type; sockets are left out (keep-alive connections come and go), see the last test, and
 * so are pending immediates: one runs on the next turn of the event loop, so it cannot pile up, and
 * whether one is queued at the instant of sampling is chance.
 */
function activeHandles(): string {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo())
    if (type !== "TCPSocketWrap" && type !== "Immediate") counts.set(type, (counts.get(type) ?? 0) + 1);
  return [...counts]
    .sort()
    .map(([type, n]) => `${type}:${n}`)
    .join(",");
}

const sockets = (): number => process.getActiveResourcesInfo().filter((t) => t === "TCPSocketWrap").length;

/**
 * Waits (at most 8 s) for idle keep-alive connections to be closed by the servers (5 s idle timeout),
 * so that handle counts compare settled states, not how many connections the last runs left open.
 */
async function settle(): Promise<void> {
  const end = Date.now() + 8_000;
  let last = sockets();
  let stableSince = Date.now();
  while (Date.now() < end && (last > 0 ? Date.now() - stableSince < 6_000 : false)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = sockets();
    if (now !== last) stableSince = Date.now();
    last = now;
  }
}

function sample(): void {
  gc();
  const usage = process.memoryUsage();
  resources.heapMb.push(Math.round(usage.heapUsed / 1e6));
  resources.rssMb.push(Math.round(usage.rss / 1e6));
  resources.handles.push(activeHandles());
}

describe("soak", () => {
  it(`${RUNS} consecutive exports with random faults on ~10% of requests: each complete and exact, or cleanly failed`, async () => {
    let latest: Manifest | undefined;
    for (let i = 0; i < RUNS; i++) {
      // A different data set each run: 2,000-4,000 rows from a moving window of the pool.
      const size = 2_000 + ((i * 7_919) % 2_001);
      const offset = (i * 1_231) % (pool.length - size);
      const rows = pool.slice(offset, offset + size);
      fx.dataset.replaceAll(rows);

      const etagsBefore = await blobEtags(fx.container);
      const faultsBefore = fx.injected.length;
      const requestsBefore = fx.requestCount;
      const result = await fx.cli(["export", "--profile", PROFILE]);
      const injected = fx.injected.slice(faultsBefore);
      tally.runs++;
      tally.requests += fx.requestCount - requestsBefore;
      for (const kind of injected) tally.faults[kind] = (tally.faults[kind] ?? 0) + 1;

      if (result.code === 0) {
        // Complete and exact: the new run's files hold exactly this data set, and latest/ is a copy.
        const { manifest, bodies } = await checkLatest();
        expect(manifest.runId).not.toBe(latest?.runId);
        // latest/ holds the bytes the manifest names (checked above); the run's own files are those bytes too.
        for (const file of manifest.files)
          expect((await fx.container.getBlobClient(file.path).getProperties()).contentLength).toBe(
            file.bytes,
          );
        const exact =
          bodies.get("json")?.toString("utf8") ===
          `[\n${rows.map((r) => JSON.stringify(exportedRow(r))).join(",\n")}\n]\n`;
        const csvIds = csvRecords(bodies.get("csv")!).map((r) => r.id);
        const idsExact = csvIds.join(",") === rows.map((r) => r.id).join(",");
        if (!exact || !idsExact || manifest.rowCount !== rows.length) tally.dataLost++;
        expect(exact, `run ${i}: JSON rows exact`).toBe(true);
        expect(idsExact, `run ${i}: CSV ids exact`).toBe(true);
        expect(manifest.integrity.warnings).toEqual([]);
        latest = manifest;
        tally.complete++;
      } else {
        expect(result.code, result.err).toBe(1);
        expect(result.err).toMatch(/^Export \S+ failed \((count_mismatch|upstream)\): /);
        expect(result.err).toMatch(/latest\/ still holds the previous snapshot/);
        // Only a silently short page may fail a run here: every other fault is retried (8 retries).
        expect(injected, `run ${i} failed: ${result.err}`).toContain("short");
        // Cleanly failed: not a single blob changed, none appeared (not even uncommitted blocks).
        const etagsAfter = await blobEtags(fx.container);
        const unchanged = JSON.stringify([...etagsAfter].sort()) === JSON.stringify([...etagsBefore].sort());
        if (!unchanged) tally.dataLost++;
        expect(unchanged, `run ${i}: storage untouched by the failed run`).toBe(true);
        if (latest) expect((await checkLatest()).manifest.runId).toBe(latest.runId);
        tally.cleanlyFailed++;
      }
      expect(injected.every((k) => RETRIED.has(k) || k === "short")).toBe(true);
      if (i === 9 || i === RUNS - 1) sample();
    }

    expect(tally.complete + tally.cleanlyFailed).toBe(RUNS);
    expect(tally.complete).toBeGreaterThan(RUNS / 2);
    expect(tally.dataLost).toBe(0);
    // Faults really were injected, at roughly the configured rate.
    const injectedTotal = Object.values(tally.faults).reduce((a, b) => a + b, 0);
    expect(injectedTotal / tally.requests).toBeGreaterThan(0.05);
    expect(injectedTotal / tally.requests).toBeLessThan(0.15);

    // Flat: after 40 more runs the heap has not grown by more than 30 MB, and no kind of handle (timers,
    // servers, files) has grown.
    const [heapAt10, heapAtEnd] = resources.heapMb as [number, number];
    expect(heapAtEnd - heapAt10).toBeLessThan(30);
    const [handlesAt10, handlesAtEnd] = resources.handles as [string, string];
    const count = (text: string): Map<string, number> =>
      new Map(
        text
          .split(",")
          .filter(Boolean)
          .map((e) => [e.split(":")[0]!, Number(e.split(":")[1])]),
      );
    const early = count(handlesAt10);
    for (const [type, n] of count(handlesAtEnd))
      expect(n, `${type} handles`).toBeLessThanOrEqual(early.get(type) ?? 0);
    // A soak: about 25 s on an idle 2-core machine; the limit leaves room for a loaded one.
  }, 150_000);

  it("afterwards nothing keeps the process alive: every connection closes, no timer or server is left", async () => {
    await fx.close();
    await settle();
    resources.handles.push(`after close: ${activeHandles()},TCPSocketWrap:${sockets()}`);
    // PipeWrap is the test runner's own channel to this worker.
    expect(process.getActiveResourcesInfo().filter((t) => t !== "PipeWrap")).toEqual([]);
  });
});
