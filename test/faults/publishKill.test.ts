import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import { latestFolder, MANIFEST_NAME } from "../../src/export/layout.js";
import type { Manifest } from "../../src/export/manifest.js";
import { publishIntentName } from "../../src/export/publish.js";
import { requireDataset } from "../../src/partnerCenter/datasets/index.js";
import { resolveExportRequest } from "../../src/runs/exportRequest.js";
import { lockBlobName } from "../../src/runs/profileLock.js";
import { createSimulatedDatasets } from "../../src/simulator/datasets/index.js";
import { createMutableTable, type MutableRowTable } from "../../src/simulator/rowTable.js";
import { buildProduct, type Built } from "../support/builtProduct.js";
import { recordOutput } from "../support/canary.js";
import {
  fixtureCredential,
  startExportFixture,
  TEST_TOKEN,
  type ExportFixture,
} from "../support/exportFixture.js";
import { sha256, storageSnapshot, type StorageSnapshot } from "./harness.js";

/**
 * A process killed with SIGKILL while it publishes into `latest/` — at every storage call of the
 * publish in turn, and at random moments of whole exports — and then the next start of a door for
 * the profile: `latest/` is one whole run again (every file its manifest names, with that size and
 * sha256, and nothing else), and the run that died is recorded as failed.
 */
const NAME = "kill-publish";
/** An ad-hoc license-usage export: a composite key, so its change feed's baseline is keyed by four fields. */
const LICENSES = "kill-licenses";
const LICENSE_USAGE = requireDataset("licensesUsage");
let licenseRows: MutableRowTable;

let built: Built;
let buildDir: string;
let fixture: ExportFixture;
let names: { runsContainer: string; locksContainer: string; jobQueue: string };
let app: App;

/** Runs one ad-hoc export in a child process; with STOP_AT=n it stops for good after publish step n. */
const CHILD = `
import { createApp } from "./dist/app/app.js";
import { loadSettings } from "./dist/config/settings.js";
import { resolveExportRequest } from "./dist/runs/exportRequest.js";

const settings = loadSettings(process.env);
const stopAt = Number(process.env.STOP_AT ?? "-1");
let steps = 0;
const token = process.env.TEST_TOKEN;
const app = createApp(settings, {
  partnerCenterCredential: { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) },
  runsContainer: process.env.RUNS_CONTAINER,
  locksContainer: process.env.LOCKS_CONTAINER,
  jobQueue: process.env.JOB_QUEUE,
  onPublishStep: async (step) => {
    const n = steps++;
    process.stdout.write("STEP " + n + " " + JSON.stringify({ ...step, at: performance.now() }) + "\\n");
    if (n === stopAt) await new Promise(() => undefined);
  },
});
await app.ensureStorage();
const resolution = resolveExportRequest(JSON.parse(process.env.REQUEST), settings.profiles);
if (!resolution.ok) throw new Error(JSON.stringify(resolution.errors));
const outcome = await app.runs.runNow(resolution.value, { trigger: "cli" });
process.stdout.write("DONE " + outcome.kind + "\\n");
`;

interface Child {
  readonly steps: string[];
  readonly runIdSeen: Promise<void>;
  kill(): void;
  readonly exited: Promise<number | null>;
  /** Resolves when the child printed its n-th publish step. */
  step(n: number): Promise<void>;
}

function startChild(request: Record<string, unknown>, stopAt: number): Child {
  const child = spawn(process.execPath, [join(buildDir, "child.js")], {
    cwd: buildDir,
    env: {
      PATH: process.env.PATH ?? "",
      ...fixture.env,
      TEST_TOKEN,
      REQUEST: JSON.stringify(request),
      STOP_AT: String(stopAt),
      RUNS_CONTAINER: names.runsContainer,
      LOCKS_CONTAINER: names.locksContainer,
      JOB_QUEUE: names.jobQueue,
      LOG_LEVEL: "error",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const steps: string[] = [];
  const waiters: { n: number; done: () => void }[] = [];
  let buffer = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (line.startsWith("STEP ")) steps.push(line);
      for (const w of waiters.filter((w) => steps.length > w.n)) w.done();
    }
  });
  let err = "";
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
  const exited = new Promise<number | null>((done) =>
    child.once("exit", (code) => {
      recordOutput(err);
      done(code);
    }),
  );
  return {
    steps,
    runIdSeen: Promise.resolve(),
    kill: () => child.kill("SIGKILL"),
    exited,
    step: (n) =>
      new Promise<void>((done, fail) => {
        if (steps.length > n) {
          done();
          return;
        }
        waiters.push({ n, done });
        void exited.then((code) => {
          fail(new Error(`the child exited (${String(code)}) before step ${n}: ${err}`));
        });
      }),
  };
}

/** What a reader of `latest/` relies on: its manifest names exactly its files, with their bytes. */
function expectLatestWhole(snapshot: StorageSnapshot, profile = NAME): Manifest | undefined {
  const prefix = latestFolder(profile);
  const inLatest = [...snapshot.blobs.keys()].filter((n) => n.startsWith(prefix)).sort();
  const body = snapshot.blobs.get(`${prefix}${MANIFEST_NAME}`);
  if (!body) {
    expect(inLatest, "latest/ without a manifest holds nothing").toEqual([]);
    return undefined;
  }
  const manifest = JSON.parse(body.toString("utf8")) as Manifest;
  const named = [
    ...manifest.files.map((f) => f.path),
    manifest.schemaFile.path,
    ...(manifest.changes?.files ?? []).map((f) => f.path),
  ];
  const expected = named.map((path) => `${prefix}${path.slice(path.lastIndexOf("/") + 1)}`);
  expect(inLatest).toEqual([...expected, `${prefix}${MANIFEST_NAME}`].sort());
  for (const file of [...manifest.files, ...(manifest.changes?.files ?? []), manifest.schemaFile]) {
    const copy = snapshot.blobs.get(`${prefix}${file.path.slice(file.path.lastIndexOf("/") + 1)}`)!;
    expect(copy.length, file.path).toBe(file.bytes);
    expect(sha256(copy), file.path).toBe(file.sha256);
    // And the copy is the run folder's own file.
    expect(copy.equals(snapshot.blobs.get(file.path)!)).toBe(true);
  }
  return manifest;
}

/** The killed child's profile lock lease runs 60 s; break it as its expiry would. */
async function breakLock(profile = NAME): Promise<void> {
  const lock = app.locksContainer.getBlockBlobClient(lockBlobName(profile));
  if ((await lock.exists()) && (await lock.getProperties()).leaseState === "leased")
    await lock.getBlobLeaseClient().breakLease(0);
}

/** The next start of a door: an HTTP submit (which settles an interrupted publish first). */
async function nextDoorStart(request: Record<string, unknown> = { name: NAME }): Promise<void> {
  const resolution = resolveExportRequest({ ...request, formats: ["csv"] }, app.settings.profiles);
  if (!resolution.ok) throw new Error("request refused");
  const outcome = await app.runs.submit(resolution.value, { trigger: "http", force: true });
  expect(outcome.kind).toBe("accepted");
  // Not run: the queued job is cleared, so the next child is not refused as a conflict.
  if (outcome.kind === "accepted")
    await app.runs.markFailed(outcome.run.runId, { reason: "aborted", message: "test" });
  await app.jobs.queue.clearMessages();
}

async function latestRunIds(profile = NAME): Promise<string | undefined> {
  const text = await app.exportContainer
    .getBlobClient(`${latestFolder(profile)}${MANIFEST_NAME}`)
    .downloadToBuffer()
    .then((b) => (JSON.parse(b.toString("utf8")) as Manifest).runId)
    .catch(() => undefined);
  return text;
}

beforeAll(async () => {
  built = await buildProduct();
  buildDir = join(built.dist, "..");
  expect(existsSync(join(built.dist, "app", "app.js")), "the product was built").toBe(true);
  await writeFile(join(buildDir, "child.js"), CHILD);

  const generated = createSimulatedDatasets({ seed: 7, rows: { licensesUsage: 400 } });
  licenseRows = createMutableTable(generated.licensesUsage.rows, LICENSE_USAGE.key!);
  fixture = await startExportFixture({
    rows: 400,
    datasets: { licensesUsage: { ...generated.licensesUsage, rows: licenseRows } },
    env: {
      EXPORT_PAGE_SIZE: "100",
      // Killed runs stay "running" until their heartbeat goes stale: room for them under the limits.
      MAX_ADHOC_RUNS_PER_HOUR: "1000",
      MAX_ACTIVE_RUNS_PER_PROFILE: "100",
    },
  });
  const id = `${process.pid}-${Date.now().toString(36)}`;
  names = {
    runsContainer: `runs-kill-${id}`,
    locksContainer: `locks-kill-${id}`,
    jobQueue: `jobs-kill-${id}`,
  };
  app = createApp(fixture.settings, {
    partnerCenterCredential: fixtureCredential,
    logger: fixture.services.logger,
    ...names,
  });
  await app.ensureStorage();
}, 120_000);

afterAll(async () => {
  await app.jobs.queue.deleteIfExists();
  await app.jobs.poisonQueue.deleteIfExists();
  await fixture.close();
  await built.remove();
});

describe("a process killed while it publishes into latest/", () => {
  /** The run before the killed one publishes Parquet too, so the killed publish has a file to delete. */
  const WIDE = { name: NAME, formats: ["csv", "json", "parquet"] };
  const NARROW = { name: NAME, formats: ["csv", "json"] };
  let stepsOfAPublish: string[] = [];

  it("a whole publish has these steps (learnt from a run that is not killed)", async () => {
    expect(await startChild(WIDE, -1).exited).toBe(0);
    const child = startChild(NARROW, -1);
    expect(await child.exited).toBe(0);
    const parsed = child.steps.map(
      (s) => JSON.parse(s.replace(/^STEP \d+ /, "")) as { kind: string; at: number },
    );
    stepsOfAPublish = parsed.map((s) => s.kind);
    const kinds = stepsOfAPublish;
    // How long latest/ is without a manifest: from hiding it to writing the new one.
    const hidden = parsed.find((s) => s.kind === "manifest-hidden")!.at;
    const written = parsed.find((s) => s.kind === "manifest")!.at;
    console.info(`latest/ was without a manifest for ${(written - hidden).toFixed(1)} ms`);
    expect(kinds[0]).toBe("intent");
    expect(kinds[1]).toBe("manifest-hidden");
    expect(kinds.filter((k) => k === "copied")).toHaveLength(5); // csv, json, schema, changes.csv, changes.json
    expect(kinds.filter((k) => k === "deleted")).toHaveLength(1); // the Parquet file of the run before
    expect(kinds.slice(-2)).toEqual(["manifest", "done"]);
    expectLatestWhole(await storageSnapshot(app.exportContainer));
  });

  it("killed after each step in turn: the next door start puts latest/ back whole and records the run failed", async () => {
    const kills = stepsOfAPublish.length - 1; // after "done" nothing is left to interrupt
    expect(kills).toBeGreaterThanOrEqual(9);
    for (let stopAt = 0; stopAt < kills; stopAt++) {
      // A wide run before each kill, so every kill has the Parquet file to delete.
      expect(await startChild(WIDE, -1).exited).toBe(0);
      const before = await latestRunIds();
      // Run ids have one-second resolution: the killed run is the one not recorded before it started.
      const known = new Set((await app.runs.list({ profile: NAME, limit: 50 })).map((r) => r.runId));
      const child = startChild(NARROW, stopAt);
      await child.step(stopAt);
      child.kill();
      await child.exited;
      expect(await app.exportContainer.getBlobClient(publishIntentName(NAME)).exists()).toBe(true);

      await breakLock();
      await nextDoorStart();
      const snapshot = await storageSnapshot(app.exportContainer);
      const latest = expectLatestWhole(snapshot);
      expect(latest?.runId, `after step ${stopAt}: latest/ holds the run before`).toBe(before);
      expect(await app.exportContainer.getBlobClient(publishIntentName(NAME)).exists()).toBe(false);
      const killed = (await app.runs.list({ profile: NAME, limit: 50 })).find(
        (r) => r.trigger === "cli" && !known.has(r.runId),
      );
      expect(killed, `after step ${stopAt}: the killed run's record`).toMatchObject({
        status: "failed",
        error: { reason: "aborted" },
      });
      expect(killed?.error?.message).toContain(`latest/ was put back to run ${before ?? ""}`);
    }
  }, 300_000);

  it("killed at random moments of 20 whole exports: latest/ is always one whole run", async () => {
    const durations: number[] = [];
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      expect(await startChild(NARROW, -1).exited).toBe(0);
      durations.push(Date.now() - started);
    }
    const span = Math.max(...durations);
    let interruptedPublishes = 0;
    for (let i = 0; i < 20; i++) {
      const child = startChild(i % 2 === 0 ? WIDE : NARROW, -1);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * span)));
      child.kill();
      await child.exited;
      if (await app.exportContainer.getBlobClient(publishIntentName(NAME)).exists()) interruptedPublishes++;
      await breakLock();
      await nextDoorStart();
      expectLatestWhole(await storageSnapshot(app.exportContainer));
      expect(await app.exportContainer.getBlobClient(publishIntentName(NAME)).exists()).toBe(false);
      const stuck = (await app.runs.list({ profile: NAME, limit: 50 })).filter(
        (r) => r.status === "running" || r.status === "queued",
      );
      // A run killed before it published is recorded as running until the next CLI run finds its lock free.
      expect(stuck.length).toBeLessThanOrEqual(1);
    }
    recordOutput(`random kills: 20, of which ${interruptedPublishes} inside a publish\n`);
  }, 300_000);
});

describe("a license-usage export (a four-field key) killed while it publishes", () => {
  const WIDE = { name: LICENSES, dataset: LICENSE_USAGE.id, formats: ["csv", "json", "parquet"] };
  const NARROW = { name: LICENSES, dataset: LICENSE_USAGE.id, formats: ["csv", "json"] };
  const key = LICENSE_USAGE.key!;
  const keyOf = (row: Record<string, unknown>): string[] => key.map((k) => String(row[k]));

  it("killed after each step in turn: latest/ is the run before, whole; the next run's change feed against it is exact", async () => {
    // The steps of a whole publish, learnt from a run that is not killed.
    expect(await startChild(WIDE, -1).exited).toBe(0);
    const whole = startChild(NARROW, -1);
    expect(await whole.exited).toBe(0);
    const kills = whole.steps.length - 1;
    expect(kills).toBeGreaterThanOrEqual(9);
    for (let stopAt = 0; stopAt < kills; stopAt++) {
      expect(await startChild(WIDE, -1).exited).toBe(0);
      const before = await latestRunIds(LICENSES);
      const child = startChild(NARROW, stopAt);
      await child.step(stopAt);
      child.kill();
      await child.exited;
      await breakLock(LICENSES);
      await nextDoorStart({ name: LICENSES, dataset: LICENSE_USAGE.id });
      const latest = expectLatestWhole(await storageSnapshot(app.exportContainer), LICENSES);
      expect(latest?.runId, `after step ${stopAt}: latest/ holds the run before`).toBe(before);
      expect(latest?.dataset).toBe(LICENSE_USAGE.id);
      expect(await app.exportContainer.getBlobClient(publishIntentName(LICENSES)).exists()).toBe(false);
    }

    // The service's rows change after the last kill: the next run compares with the restored latest/.
    const restored = (await latestRunIds(LICENSES))!;
    const blob = (name: string): Promise<Buffer> =>
      app.exportContainer.getBlobClient(name).downloadToBuffer();
    const rows = JSON.parse(
      (await blob(`${latestFolder(LICENSES)}${LICENSE_USAGE.fileStem}.json`)).toString("utf8"),
    ) as Record<string, unknown>[];
    const target = rows.find((r) => typeof r.licensesActive === "number")!;
    const gone = rows.find((r) => r !== target)!;
    const served = licenseRows.get(licenseRows.indexOfKey(keyOf(target)));
    const spelling = [
      "licensesActive",
      ...(LICENSE_USAGE.fields.find((f) => f.name === "licensesActive")?.aliases ?? []),
    ].find((k) => k in served)!;
    licenseRows.update(keyOf(target), { [spelling]: (target.licensesActive as number) + 5 });
    licenseRows.remove(keyOf(gone));
    licenseRows.add({ ...licenseRows.get(0), customerTenantId: "00000000-0000-0000-0000-00000000beef" });

    expect(await startChild(NARROW, -1).exited).toBe(0);
    const manifest = JSON.parse(
      (await blob(`${latestFolder(LICENSES)}${MANIFEST_NAME}`)).toString("utf8"),
    ) as Manifest;
    expect(manifest.changes).toMatchObject({
      previousRunId: restored,
      keyFields: key,
      added: 1,
      changed: 1,
      removed: 1,
    });
    const feedPath = manifest.changes!.files.find((f) => f.format === "json")!.path;
    const feed = JSON.parse((await blob(feedPath)).toString("utf8")) as Record<string, unknown>[];
    const byChange = Object.fromEntries(feed.map((r) => [r.change as string, r]));
    expect(feed).toHaveLength(3);
    expect(keyOf(byChange.changed!)).toEqual(keyOf(target));
    expect(byChange.changed).toMatchObject({
      changedFields: ["licensesActive"],
      licensesActive: (target.licensesActive as number) + 5,
      previousLicensesActive: target.licensesActive,
    });
    expect(keyOf(byChange.removed!)).toEqual(keyOf(gone));
    expect(byChange.added?.customerTenantId).toBe("00000000-0000-0000-0000-00000000beef");
  }, 300_000);
});

describe("a publisher that loses the profile lock mid-publish", () => {
  it("stops before its next change to latest/, and the new holder's publish is the one that lands, whole", async () => {
    const request = resolveExportRequest({ name: NAME, formats: ["csv", "json"] }, app.settings.profiles);
    if (!request.ok) throw new Error("request refused");
    let newHolder: Awaited<ReturnType<App["runs"]["runNow"]>> | undefined;
    const slow = createApp(fixture.settings, {
      partnerCenterCredential: fixtureCredential,
      logger: fixture.services.logger,
      ...names,
      onPublishStep: async (step) => {
        if (step.kind !== "manifest-hidden" || newHolder) return;
        // The lease is lost (as after a long pause); another process takes the profile and publishes.
        await breakLock();
        newHolder = await app.runs.runNow(request.value, { trigger: "cli" });
      },
    });
    const lost = await slow.runs.runNow(request.value, { trigger: "cli" });

    expect(newHolder?.kind).toBe("succeeded");
    expect(lost.kind).toBe("failed");
    if (lost.kind !== "failed" || newHolder?.kind !== "succeeded") return;
    expect(lost.run.error?.reason).toBe("aborted");
    expect(lost.run.error?.message).toMatch(/lock on profile kill-publish was lost/);
    const snapshot = await storageSnapshot(app.exportContainer);
    const latest = expectLatestWhole(snapshot);
    expect(latest?.runId).toBe(newHolder.run.runId);
    // The publisher that lost the lock left nothing of its own behind.
    expect([...snapshot.blobs.keys()].filter((n) => n.includes(lost.run.runId))).toEqual([]);
    expect(snapshot.blobs.has(publishIntentName(NAME))).toBe(false);
  });
});
