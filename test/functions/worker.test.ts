import type { App } from "../../src/app/app.js";
import { createHash } from "node:crypto";
import type { InvocationContext, Timer } from "@azure/functions";
import { parse } from "csv-parse/sync";
import { afterEach, describe, expect, it } from "vitest";
import { decodeJobMessage, type JobMessage } from "../../src/runs/jobQueue.js";
import { runFolder } from "../../src/export/layout.js";
import type { Manifest } from "../../src/export/manifest.js";
import { appFunctions } from "../../src/functions/app.js";
import { parseSchedule } from "../../src/functions/ncrontab.js";
import { recordPoisonedJob, runJob } from "../../src/functions/queueWorker.js";
import { type FunctionDefinition, type FunctionHost } from "../../src/functions/runtime.js";
import { runNightly } from "../../src/functions/timerNightly.js";
import { startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext, startFunctionHost } from "../support/functionHost.js";

interface Setup {
  fixture: ExportFixture;
  runtime: App;
  host: FunctionHost;
  logs: string[];
  definitions: FunctionDefinition[];
}

let current: Setup | undefined;
afterEach(async () => {
  if (!current) return;
  await current.runtime.jobs.queue.deleteIfExists();
  await current.runtime.jobs.poisonQueue.deleteIfExists();
  await current.fixture.close();
  current = undefined;
});

async function setup(options: {
  rows: number;
  env?: Record<string, string>;
  latencyMs?: number;
  faults?: string;
}): Promise<Setup> {
  const fixture = await startExportFixture({
    rows: options.rows,
    ...(options.latencyMs !== undefined ? { latencyMs: options.latencyMs } : {}),
    ...(options.faults !== undefined ? { faults: options.faults } : {}),
    env: options.env ?? {},
  });
  const { runtime, host } = await startFunctionHost(fixture, "w", {
    lockRenewIntervalMs: 500,
    lockLeaseSeconds: 15,
  });
  const logs: string[] = [];
  current = {
    fixture,
    runtime,
    host,
    logs,
    definitions: appFunctions(host, parseSchedule(fixture.settings.schedule)),
  };
  return current;
}

function context(s: Setup, dequeueCount = 1): InvocationContext {
  return invocationContext("exportWorker", s.logs, { dequeueCount });
}

/** Every job on the queue (peeked, so they stay). */
async function queuedJobs(s: Setup): Promise<JobMessage[]> {
  const peeked = await s.runtime.jobs.queue.peekMessages({ numberOfMessages: 32 });
  return peeked.peekedMessageItems.map((m) => decodeJobMessage(m.messageText));
}

/** Takes the next job off the queue as the trigger would deliver it: the parsed JSON object. */
async function receiveJob(s: Setup): Promise<Record<string, unknown>> {
  const received = await s.runtime.jobs.queue.receiveMessages({
    numberOfMessages: 1,
    visibilityTimeout: 300,
  });
  const item = received.receivedMessageItems[0];
  if (!item) throw new Error("no job on the queue");
  await s.runtime.jobs.queue.deleteMessage(item.messageId, item.popReceipt);
  return JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as Record<string, unknown>;
}

async function blobNames(s: Setup, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const b of s.fixture.services.exportContainer.listBlobsFlat({ prefix })) names.push(b.name);
  return names.sort();
}

async function download(s: Setup, path: string): Promise<Buffer> {
  return s.fixture.services.exportContainer.getBlobClient(path).downloadToBuffer();
}

const timer = (isPastDue: boolean): Timer => ({
  isPastDue,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: "", next: "", lastUpdated: "" },
});

describe("nightly timer", () => {
  it("queues one job per scheduled profile, and a past-due double fire queues nothing more", async () => {
    const s = await setup({
      rows: 10,
      env: {
        EXPORT_PROFILES: JSON.stringify([
          { name: "nightly-a" },
          { name: "nightly-b", groupby: ["status"] },
          { name: "on-demand", schedule: false },
        ]),
      },
    });
    const schedule = parseSchedule("0 0 2 * * *");
    await runNightly(s.host, schedule, timer(false), context(s), new Date("2026-11-24T02:00:00.150Z"));
    let jobs = await queuedJobs(s);
    expect(jobs.map((j) => j.profile).sort()).toEqual(["nightly-a", "nightly-b"]);
    expect(jobs.every((j) => j.trigger === "timer")).toBe(true);
    expect(jobs.find((j) => j.profile === "nightly-b")?.query.groupby).toEqual(["status"]);

    // The host restarts and fires past-due for the same tick, twice (two instances).
    await runNightly(s.host, schedule, timer(true), context(s), new Date("2026-11-24T02:07:00Z"));
    await runNightly(s.host, schedule, timer(true), context(s), new Date("2026-11-24T02:07:01Z"));
    jobs = await queuedJobs(s);
    expect(jobs).toHaveLength(2);

    // Down for three nights: the catch-up queues the latest tick once, not one per missed tick.
    await runNightly(s.host, schedule, timer(true), context(s), new Date("2026-11-27T05:30:00Z"));
    jobs = await queuedJobs(s);
    expect(jobs).toHaveLength(4);
    expect(s.fixture.referralsRequests()).toHaveLength(0);

    const runs = await s.runtime.runs.list({ profile: "nightly-a" });
    expect(runs.map((r) => [r.trigger, r.status])).toEqual([
      ["timer", "queued"],
      ["timer", "queued"],
    ]);
  });

  it("is registered with the validated schedule, not on startup", async () => {
    const s = await setup({ rows: 1, env: { EXPORT_SCHEDULE: "0 30 1 * * *" } });
    const def = s.definitions.find((d) => d.kind === "timer");
    expect(def?.kind === "timer" && def.options).toMatchObject({
      schedule: "0 30 1 * * *",
      runOnStartup: false,
    });
  });
});

describe("queue worker", () => {
  it("runs a job, and a redelivered copy of it is a no-op: one published snapshot", async () => {
    const s = await setup({ rows: 700 });
    const submitted = await s.runtime.runs.submit(
      {
        profile: "all-referrals",
        source: "profile",
        query: s.fixture.settings.profiles[0]!.query,
        formats: ["csv", "json"],
      },
      { trigger: "http" },
    );
    const runId = submitted.kind === "accepted" ? submitted.run.runId : "";
    const job = await receiveJob(s);

    await runJob(s.host, job, context(s, 1));
    const requestsAfterFirst = s.fixture.referralsRequests().length;
    expect(requestsAfterFirst).toBeGreaterThan(0);
    await runJob(s.host, job, context(s, 2));
    await runJob(s.host, structuredClone(job), context(s, 1));
    expect(s.fixture.referralsRequests()).toHaveLength(requestsAfterFirst);

    const manifests = (await blobNames(s)).filter(
      (n) => n.endsWith("_manifest.json") && !n.includes("/latest/"),
    );
    expect(manifests).toEqual([`${runFolder("all-referrals", runId)}_manifest.json`]);
    const run = await s.runtime.runs.get(runId);
    expect(run).toMatchObject({ status: "succeeded", attempts: 1, rowCount: 700 });
    expect(s.logs.some((l) => l.includes("ignored (redelivery)"))).toBe(true);
    // Worker logs carry the run id and correlation id, and never the token.
    const started = s.fixture.logs.concat(s.logs).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      started.some(
        (l) => l.msg === "Export started" && l.runId === runId && l.correlationId === job.correlationId,
      ),
    ).toBe(true);
    expect(s.fixture.logs.concat(s.logs).join("\n")).not.toContain("fixture-access-token");
  });

  it("a host that stops mid-export records the run failed and stopped; a hard-killed attempt's leftover file never survives the redelivery", async () => {
    const s = await setup({
      rows: 3_000,
      latencyMs: 40,
      env: { EXPORT_PAGE_SIZE: "100", EXPORT_PREFETCH_PAGES: "1" },
    });
    const profile = s.fixture.settings.profiles[0]!;
    const request = {
      profile: profile.name,
      source: "profile" as const,
      query: profile.query,
      formats: profile.formats,
    };
    const stopped = await s.runtime.runs.submit(request, { trigger: "http" });
    const stoppedId = stopped.kind === "accepted" ? stopped.run.runId : "";
    const stoppedJob = await receiveJob(s);

    // The host stops (appTerminate, Ctrl-C) after a few pages: the export is aborted and cleaned up.
    const kill = new AbortController();
    const attempt = runJob({ ...s.host, abortSignal: kill.signal }, stoppedJob, context(s, 1));
    for (let i = 0; i < 200 && s.fixture.referralsRequests().length < 4; i++)
      await new Promise((r) => setTimeout(r, 25));
    kill.abort(new Error("instance stopped"));
    await attempt;
    const stoppedRun = await s.runtime.runs.get(stoppedId);
    expect(stoppedRun).toMatchObject({ status: "failed", error: { reason: "aborted" } });
    expect(stoppedRun?.error?.message).toMatch(
      /^Stopped before it finished: instance stopped\. Nothing was published/,
    );
    expect(await blobNames(s, runFolder(profile.name, stoppedId))).toEqual([]);
    expect(await blobNames(s, `${profile.name}/latest/`)).toEqual([]);
    // Its lock was released: the next run of the profile starts at once.
    const submitted = await s.runtime.runs.submit(request, { trigger: "http" });
    expect(submitted.kind).toBe("accepted");
    const runId = submitted.kind === "accepted" ? submitted.run.runId : "";
    const job = await receiveJob(s);
    const folder = runFolder(profile.name, runId);

    // A hard kill (no chance to clean up) leaves what it had uploaded; simulate that leftover.
    const leftover = s.fixture.services.exportContainer.getBlockBlobClient(`${folder}referrals.csv`);
    await leftover.upload("id,status\r\n1,Won\r\n", 18);

    await runJob(s.host, job, context(s, 2));
    const names = await blobNames(s, folder);
    expect(names).toEqual([
      `${folder}_manifest.json`,
      `${folder}changes.baseline.tsv`,
      `${folder}changes.csv`,
      `${folder}changes.json`,
      `${folder}referrals.csv`,
      `${folder}referrals.json`,
      `${folder}referrals.schema.json`,
    ]);
    const manifest = JSON.parse((await download(s, `${folder}_manifest.json`)).toString("utf8")) as Manifest;
    expect(manifest.rowCount).toBe(3_000);
    for (const file of manifest.files) {
      const body = await download(s, file.path);
      expect(createHash("sha256").update(body).digest("hex")).toBe(file.sha256);
      expect(body.length).toBe(file.bytes);
    }
    const csv = parse(await download(s, `${folder}referrals.csv`), { columns: true, bom: true });
    expect(csv).toHaveLength(3_000);
    const latest = JSON.parse(
      (await download(s, `${profile.name}/latest/_manifest.json`)).toString("utf8"),
    ) as Manifest;
    expect(latest.runId).toBe(runId);
    const run = await s.runtime.runs.get(runId);
    expect(run).toMatchObject({ status: "succeeded", attempts: 1, rowCount: 3_000 });
    expect(run?.lastError).toBeUndefined();
    expect(run?.files?.map((f) => f.path)).toEqual(manifest.files.map((f) => f.path));
    expect(s.logs.some((l) => l.includes("Removed files left by an earlier attempt"))).toBe(true);
  });

  it("an export that loses its profile lock stops, publishes nothing and is retried", async () => {
    const s = await setup({
      rows: 3_000,
      latencyMs: 40,
      env: { EXPORT_PAGE_SIZE: "100", EXPORT_PREFETCH_PAGES: "1" },
    });
    const profile = s.fixture.settings.profiles[0]!;
    await s.runtime.runs.submit(
      { profile: profile.name, source: "profile", query: profile.query, formats: profile.formats },
      { trigger: "http" },
    );
    const job = await receiveJob(s);
    const attempt = runJob(s.host, job, context(s, 1));
    for (let i = 0; i < 200 && s.fixture.referralsRequests().length < 3; i++)
      await new Promise((r) => setTimeout(r, 25));
    // Someone else breaks the lease (as an expired lease taken over by another instance would look).
    await s.runtime.locks.container
      .getBlockBlobClient(`profile-${profile.name}.lock`)
      .getBlobLeaseClient()
      .breakLease(0);
    await expect(attempt).rejects.toThrow(/will be retried/);
    expect(await s.runtime.runs.get(job.runId as string)).toMatchObject({
      status: "queued",
      lastError: { reason: "aborted" },
    });
    expect(await blobNames(s)).toEqual([]);
    expect(s.fixture.logs.some((l) => l.includes("Profile lock lost"))).toBe(true);
  });

  it("a non-retryable failure marks the run failed at once and does not throw", async () => {
    const s = await setup({ rows: 300, faults: "short@1", env: { EXPORT_PAGE_SIZE: "100" } });
    const profile = s.fixture.settings.profiles[0]!;
    await s.runtime.runs.submit(
      { profile: profile.name, source: "profile", query: profile.query, formats: profile.formats },
      { trigger: "http" },
    );
    const job = await receiveJob(s);
    await expect(runJob(s.host, job, context(s, 1))).resolves.toBeUndefined();
    const run = await s.runtime.runs.get(job.runId as string);
    expect(run).toMatchObject({ status: "failed", error: { reason: "count_mismatch" } });
    expect(typeof run?.completedAt).toBe("string");
    expect(await blobNames(s)).toEqual([]);
  });

  it("a transient failure throws for redelivery, and on the last attempt marks the run failed", async () => {
    const s = await setup({ rows: 50, faults: "503@*", env: { EXPORT_MAX_RETRIES: "0" } });
    const profile = s.fixture.settings.profiles[0]!;
    await s.runtime.runs.submit(
      { profile: profile.name, source: "profile", query: profile.query, formats: profile.formats },
      { trigger: "http" },
    );
    const job = await receiveJob(s);
    const runId = job.runId as string;

    await expect(runJob(s.host, job, context(s, 1))).rejects.toThrow(/upstream.*will be retried/);
    expect(await s.runtime.runs.get(runId)).toMatchObject({
      status: "queued",
      attempts: 1,
      lastError: { reason: "upstream" },
    });
    await expect(runJob(s.host, job, context(s, 4))).rejects.toThrow(/will be retried/);
    await expect(runJob(s.host, job, context(s, 5))).rejects.toThrow(/poison/);
    const run = await s.runtime.runs.get(runId);
    expect(run).toMatchObject({ status: "failed", attempts: 3, error: { reason: "upstream" } });
    expect(run?.lastError).toBeUndefined();
    expect(await blobNames(s)).toEqual([]);
  });

  it("waits for the profile lock by queueing the job again with a delay", async () => {
    const s = await setup({ rows: 20 });
    const profile = s.fixture.settings.profiles[0]!;
    await s.runtime.runs.submit(
      { profile: profile.name, source: "profile", query: profile.query, formats: profile.formats },
      { trigger: "http" },
    );
    const job = await receiveJob(s);
    const held = await s.runtime.locks.tryAcquire(profile.name, "20260101T000000Z-holder");
    expect(held).toBeDefined();
    try {
      expect(await s.runtime.locks.tryAcquire(profile.name, "someone-else")).toBeUndefined();
      await expect(runJob(s.host, job, context(s, 1))).resolves.toBeUndefined();
      expect(s.fixture.referralsRequests()).toHaveLength(0);
      // Requeued invisible: nothing to peek yet, but the queue holds it.
      expect(await queuedJobs(s)).toHaveLength(0);
      const props = await s.runtime.jobs.queue.getProperties();
      expect(props.approximateMessagesCount).toBe(1);
      expect(await s.runtime.runs.get(job.runId as string)).toMatchObject({ status: "queued" });
      expect(s.logs.some((l) => l.includes("20260101T000000Z-holder"))).toBe(true);
    } finally {
      await held?.release();
    }
    const again = await s.runtime.locks.tryAcquire(profile.name, "after");
    expect(again).toBeDefined();
    await again?.release();
  });

  it("a message that is not an export job goes to the poison queue; a readable run id is marked failed", async () => {
    const s = await setup({ rows: 5 });
    await expect(runJob(s.host, "hello", context(s))).resolves.toBeUndefined();
    const profile = s.fixture.settings.profiles[0]!;
    const submitted = await s.runtime.runs.submit(
      { profile: profile.name, source: "profile", query: profile.query, formats: profile.formats },
      { trigger: "http" },
    );
    const runId = submitted.kind === "accepted" ? submitted.run.runId : "";
    await expect(runJob(s.host, { runId, profile: "x", formats: [] }, context(s))).resolves.toBeUndefined();
    const poison = await s.runtime.jobs.poisonQueue.peekMessages({ numberOfMessages: 10 });
    const texts = poison.peekedMessageItems.map((m) => Buffer.from(m.messageText, "base64").toString("utf8"));
    expect(texts[0]).toBe("hello");
    expect(texts[1]).toContain(runId);
    expect(await s.runtime.runs.get(runId)).toMatchObject({
      status: "failed",
      error: { reason: "bad_request" },
    });
  });

  it("a job poisoned after its process died on the last delivery: the run ends failed at once, with the reason and the delivery count", async () => {
    const s = await setup({ rows: 5 });
    const profile = s.fixture.settings.profiles[0]!;
    const request = {
      profile: profile.name,
      source: "profile" as const,
      query: profile.query,
      formats: profile.formats,
    };

    // Attempts that failed and were recorded, then a last delivery whose process died: the host
    // moves the job to the poison queue without the worker seeing it.
    const withError = await s.runtime.runs.submit(request, { trigger: "http" });
    const failingId = withError.kind === "accepted" ? withError.run.runId : "";
    await s.runtime.store.update(failingId, (r) => ({
      ...r,
      attempts: 4,
      lastError: {
        reason: "upstream",
        message: "Partner Center failed with 503 until the retries ran out",
        at: r.updatedAt,
      },
    }));
    const job = await receiveJob(s);
    await recordPoisonedJob(s.host, job, invocationContext("exportPoisoned", s.logs, { dequeueCount: 1 }));
    const failed = await s.runtime.runs.get(failingId);
    expect(failed).toMatchObject({ status: "failed", error: { reason: "upstream" } });
    expect(failed?.error?.message).toBe(
      `Gave up after 5 deliveries of its job (moved to ${s.host.jobQueueName}-poison); the last attempt failed: Partner Center failed with 503 until the retries ran out`,
    );

    // Every delivery's process died: nothing was recorded but the attempts.
    const silent = await s.runtime.runs.submit(request, { trigger: "http", force: true });
    const silentId = silent.kind === "accepted" ? silent.run.runId : "";
    await s.runtime.store.update(silentId, (r) => ({ ...r, status: "running", attempts: 5 }));
    await recordPoisonedJob(s.host, await receiveJob(s), invocationContext("exportPoisoned", s.logs));
    const died = await s.runtime.runs.get(silentId);
    expect(died).toMatchObject({ status: "failed", error: { reason: "aborted" } });
    expect(died?.error?.message).toContain("its process stopped before finishing 5 of them");

    // A finished run is left as it is, and a message that is not a job is ignored.
    await recordPoisonedJob(
      s.host,
      { runId: silentId, nonsense: true },
      invocationContext("exportPoisoned", s.logs),
    );
    expect((await s.runtime.runs.get(silentId))?.error).toEqual(died?.error);
    // The poison watcher is registered on the poison queue.
    expect(
      s.definitions.find((d) => d.name === "exportPoisoned" && d.kind === "storageQueue")?.options,
    ).toMatchObject({ queueName: `${s.host.jobQueueName}-poison` });
  });
});
