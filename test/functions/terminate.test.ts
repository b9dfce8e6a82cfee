import { createHash } from "node:crypto";
import azureFunctions from "@azure/functions";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp, lazyApp } from "../../src/app/app.js";
import { runFolder } from "../../src/export/layout.js";
import { runJob } from "../../src/functions/queueWorker.js";
import type { FunctionHost } from "../../src/functions/runtime.js";
import { stopOnTerminate } from "../../src/functions/terminate.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext } from "../support/functionHost.js";

let fixture: ExportFixture | undefined;
afterEach(async () => {
  vi.unstubAllEnvs();
  vi.resetModules();
  vi.restoreAllMocks();
  await fixture?.close();
  fixture = undefined;
});

/** name -> sha256 of every blob under the prefix. */
async function snapshot(f: ExportFixture, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const blob of f.services.exportContainer.listBlobsFlat({ prefix })) {
    const body = await f.services.exportContainer.getBlobClient(blob.name).downloadToBuffer();
    out.set(blob.name, createHash("sha256").update(body).digest("hex"));
  }
  return out;
}

describe("Azure's appTerminate hook", () => {
  it("is registered by the Functions entry point", async () => {
    vi.stubEnv("EXPORT_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true");
    vi.stubEnv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001");
    vi.stubEnv("PARTNER_CENTER_CLIENT_ID", "00000000-0000-0000-0000-000000000002");
    vi.stubEnv("KEY_VAULT_URL", "https://example-vault.vault.azure.net");
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const hook = vi.spyOn(azureFunctions.app.hook, "appTerminate");
    await import("../../src/functions/index.js");
    expect(hook).toHaveBeenCalledTimes(1);
    expect(typeof hook.mock.calls[0]?.[0]).toBe("function");
  });

  it("aborts a running export: no partial files, latest/ untouched, lock released, the run failed and saying it was stopped", async () => {
    fixture = await startExportFixture({
      rows: 3_000,
      latencyMs: 40,
      env: { EXPORT_PAGE_SIZE: "100", EXPORT_PREFETCH_PAGES: "1" },
    });
    const f = fixture;
    const id = `${process.pid}-${Date.now().toString(36)}`;
    const app = lazyApp(() =>
      createApp(f.settings, {
        partnerCenterCredential: fixtureCredential,
        logger: f.services.logger,
        runsContainer: `runs-term-${id}`,
        locksContainer: `locks-term-${id}`,
        jobQueue: `jobs-term-${id}`,
      }),
    );
    const shutdown = new AbortController();
    const host: FunctionHost = {
      settings: f.settings,
      app,
      jobQueueName: `jobs-term-${id}`,
      abortSignal: shutdown.signal,
    };
    const built = await app();
    const profile = f.settings.profiles[0]!;
    const request = {
      profile: profile.name,
      source: "profile" as const,
      query: profile.query,
      formats: profile.formats,
    };

    // A first run publishes latest/ (the snapshot readers rely on).
    const first = await built.runs.runNow(request, { trigger: "cli" });
    expect(first.kind).toBe("succeeded");
    const latestBefore = await snapshot(f, `${profile.name}/latest/`);
    expect(latestBefore.size).toBeGreaterThan(3);

    const submitted = await built.runs.submit(request, { trigger: "http" });
    if (submitted.kind !== "accepted") throw new Error(`not accepted: ${submitted.kind}`);
    const runId = submitted.run.runId;
    const received = await built.jobs.queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 300 });
    const item = received.receivedMessageItems[0]!;
    const job = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as unknown;

    const logs: string[] = [];
    const requestsBefore = f.referralsRequests().length;
    const worker = runJob(host, job, invocationContext("exportWorker", logs, { dequeueCount: 1 }));
    for (let i = 0; i < 400 && f.referralsRequests().length < requestsBefore + 5; i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(await built.runs.get(runId)).toMatchObject({ status: "running" });

    await stopOnTerminate(shutdown, app)();
    await worker; // the job ends without asking for a redelivery

    const run = await built.runs.get(runId);
    expect(run).toMatchObject({ status: "failed", error: { reason: "aborted" } });
    expect(run?.error?.message).toBe(
      "Stopped before it finished: the Functions host is shutting down (scale-in, restart or deployment). " +
        "Nothing was published; latest/ still holds the previous snapshot",
    );
    expect(await snapshot(f, runFolder(profile.name, runId))).toEqual(new Map());
    expect(await snapshot(f, `${profile.name}/latest/`)).toEqual(latestBefore);
    const lock = await built.locks.tryAcquire(profile.name, "after-terminate");
    expect(lock).toBeDefined();
    await lock?.release();
    await built.jobs.queue.deleteIfExists();
    await built.jobs.poisonQueue.deleteIfExists();
  });

  it("does nothing when the app was never built", async () => {
    let built = false;
    const app = lazyApp(() => {
      built = true;
      throw new Error("must not be built on shutdown");
    });
    await stopOnTerminate(new AbortController(), app)();
    expect(built).toBe(false);
  });
});
