import { createApp, type App } from "../../src/app/app.js";
import { createHash } from "node:crypto";
import { RestError } from "@azure/core-rest-pipeline";
import azureFunctions, { type HttpResponseInit } from "@azure/functions";
import { BlobClient, BlockBlobClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSettings } from "../../src/config/settings.js";
import { READ_LINK_CLOCK_SKEW_MS } from "../../src/runs/readLinks.js";
import { appFunctions } from "../../src/functions/app.js";
import { parseSchedule } from "../../src/functions/ncrontab.js";
import { runJob } from "../../src/functions/queueWorker.js";
import { type FunctionDefinition, type FunctionHost } from "../../src/functions/runtime.js";
import { capturedOutput, findCredentials } from "../support/canary.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext, startFunctionHost } from "../support/functionHost.js";
import { authHeaders, testApiTokens } from "../support/apiTokens.js";

/** A caller with every role: these tests are about what the API does once a caller is let in. */
const AUTH = await authHeaders();

const { HttpRequest } = azureFunctions;

type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;

const LINK_MINUTES = 15;

let fixture: ExportFixture;
let runtime: App;
let host: FunctionHost;
let statusFn: HttpDefinition;
let succeededRunId: string;
const logs: string[] = [];
/** Every SAS signature handed out in this file, checked against the logs at the end. */
const signatures = new Set<string>();

interface FileView {
  path: string;
  format: string;
  bytes: number;
  sha256: string;
  url: string;
  readLink?: { url: string; expiresOn: string } | null;
}

interface Result {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

function statusDefinition(h: FunctionHost): HttpDefinition {
  return appFunctions(h, parseSchedule(fixture.settings.schedule)).find(
    (d): d is HttpDefinition => d.kind === "http" && d.name === "exportStatus",
  )!;
}

function context(name: string): ReturnType<typeof invocationContext> {
  return invocationContext(name, logs);
}

async function getStatus(runId: string, query = "", def: HttpDefinition = statusFn): Promise<Result> {
  const request = new HttpRequest({
    headers: AUTH,
    method: "GET",
    url: `http://127.0.0.1/api/exports/${runId}${query}`,
    params: { runId },
  });
  const init = (await def.options.handler(request, context(def.name))) as HttpResponseInit;
  const text = typeof init.body === "string" ? init.body : "";
  const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  for (const m of text.matchAll(/[?&]sig=([^&"]+)/g)) signatures.add(m[1]!);
  return { status: init.status ?? 200, headers: new Headers(init.headers), body };
}

async function submit(profile: string): Promise<string> {
  const p = fixture.settings.profiles.find((x) => x.name === profile)!;
  const outcome = await runtime.runs.submit(
    { profile: p.name, source: "profile", query: p.query, formats: p.formats },
    { trigger: "http", force: true },
  );
  if (outcome.kind !== "accepted") throw new Error("run not accepted");
  return outcome.run.runId;
}

/** Runs the next queued job to its end, as the queue trigger would. */
async function runNextJob(): Promise<void> {
  const received = await runtime.jobs.queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 300 });
  const item = received.receivedMessageItems[0];
  if (!item) throw new Error("no job on the queue");
  await runtime.jobs.queue.deleteMessage(item.messageId, item.popReceipt);
  const job = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as unknown;
  await runJob(host, job, context("exportWorker"));
}

async function statusOf(error: Promise<unknown>): Promise<number | undefined> {
  try {
    await error;
  } catch (caught) {
    return caught instanceof RestError ? caught.statusCode : -1;
  }
  return undefined;
}

beforeAll(async () => {
  fixture = await startExportFixture({
    rows: 120,
    env: {
      HTTP_READ_LINK_MINUTES: String(LINK_MINUTES),
      EXPORT_PROFILES: JSON.stringify([
        { name: "all-referrals", formats: ["csv", "json", "parquet"] },
        { name: "pending", formats: ["csv"] },
      ]),
    },
  });
  ({ runtime, host } = await startFunctionHost(fixture, "rl"));
  statusFn = statusDefinition(host);
  succeededRunId = await submit("all-referrals");
  await runNextJob();
});

afterAll(async () => {
  await runtime.jobs.queue.deleteIfExists();
  await runtime.jobs.poisonQueue.deleteIfExists();
  await fixture.close();
  // No read link (nor any part of its signature) ever reaches a log line or the process output.
  const everything = [capturedOutput(), ...logs, ...fixture.logs].join("\n");
  expect(signatures.size).toBeGreaterThan(0);
  // Findings name what leaked and where, never the value.
  const secrets = [...signatures].flatMap((sig) => [sig, decodeURIComponent(sig)]);
  expect(findCredentials(everything, secrets)).toEqual([]);
});

describe("GET /api/exports/{runId}?readLinks=true on a succeeded run", () => {
  it("returns a read-only, single-blob, time-limited link per file and for the manifest", async () => {
    const before = Date.now();
    const res = await getStatus(succeededRunId, "?readLinks=true");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body.status).toBe("succeeded");
    const files = res.body.files as FileView[];
    expect(files.map((f) => f.format).sort()).toEqual(["csv", "json", "parquet"]);
    const manifestLink = res.body.manifestReadLink as { url: string; expiresOn: string };
    expect(manifestLink.url).toContain("/_manifest.json?");

    const container = fixture.services.exportContainer;
    for (const [path, link] of [
      ...files.map((f) => [f.path, f.readLink!] as const),
      [res.body.manifestPath as string, manifestLink] as const,
    ]) {
      const url = new URL(link.url);
      expect(`${url.origin}${url.pathname}`).toBe(container.getBlobClient(path).url);
      const q = url.searchParams;
      expect(q.get("sp")).toBe("r");
      expect(q.get("sr")).toBe("b");
      expect(q.get("sig")).toMatch(/\S{20,}/);
      // Azurite listens on http, so a local link allows http too; in Azure it is https only.
      expect(q.get("spr")).toBe("https,http");
      const expires = Date.parse(q.get("se")!);
      expect(new Date(link.expiresOn).getTime()).toBe(expires);
      expect(expires - before).toBeGreaterThan(LINK_MINUTES * 60_000 - 2_000);
      expect(link.expiresOn).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(expires - Date.now()).toBeLessThanOrEqual(LINK_MINUTES * 60_000 + 1_000);
      const starts = Date.parse(q.get("st")!);
      expect(before - starts).toBeGreaterThanOrEqual(READ_LINK_CLOCK_SKEW_MS - 2_000);
      expect(before - starts).toBeLessThanOrEqual(READ_LINK_CLOCK_SKEW_MS + 2_000);
    }
  });

  it("each link reads exactly its blob's bytes with no credential at all", async () => {
    const res = await getStatus(succeededRunId, "?readLinks=true");
    const files = res.body.files as FileView[];
    const container = fixture.services.exportContainer;
    for (const file of files) {
      const body = await new BlobClient(file.readLink!.url).downloadToBuffer();
      expect(body.equals(await container.getBlobClient(file.path).downloadToBuffer())).toBe(true);
      expect(body.length).toBe(file.bytes);
      expect(createHash("sha256").update(body).digest("hex")).toBe(file.sha256);
    }
    const manifestLink = res.body.manifestReadLink as { url: string };
    const manifest = await new BlobClient(manifestLink.url).downloadToBuffer();
    expect(JSON.parse(manifest.toString("utf8"))).toMatchObject({ runId: succeededRunId });
  });

  it("a link does not read any other blob: another file of the run, latest/, or a run record", async () => {
    const res = await getStatus(succeededRunId, "?readLinks=true");
    const csv = (res.body.files as FileView[]).find((f) => f.format === "csv")!;
    const url = new URL(csv.readLink!.url);
    const elsewhere = [
      url.pathname.replace(/referrals\.csv$/, "referrals.json"),
      url.pathname.replace(/snapshot_date%3D[^/]+\/run_id%3D[^/]+\//, "latest/"),
      url.pathname.replace(
        /\/[^/]+\/all-referrals\/.*$/,
        `/${runtime.store.container.containerName}/runs/${succeededRunId}.json`,
      ),
    ];
    for (const path of elsewhere) {
      expect(path).not.toBe(url.pathname);
      const moved = new URL(url);
      moved.pathname = path;
      expect(await statusOf(new BlobClient(moved.toString()).downloadToBuffer()), path).toBe(403);
    }
    // The link itself still works.
    expect((await new BlobClient(url.toString()).downloadToBuffer()).length).toBe(csv.bytes);
  });

  it("a link cannot write, overwrite or delete", async () => {
    const res = await getStatus(succeededRunId, "?readLinks=true");
    const csv = (res.body.files as FileView[]).find((f) => f.format === "csv")!;
    const link = csv.readLink!.url;
    const original = await fixture.services.exportContainer.getBlobClient(csv.path).downloadToBuffer();
    expect(await statusOf(new BlockBlobClient(link).upload("tampered", 8))).toBe(403);
    expect(await statusOf(new BlobClient(link).delete())).toBe(403);
    expect(await statusOf(new BlobClient(link).setMetadata({ tampered: "yes" }))).toBe(403);
    const after = await fixture.services.exportContainer.getBlobClient(csv.path).downloadToBuffer();
    expect(after.equals(original)).toBe(true);
  });

  it("without readLinks, or with readLinks=false, the answer is the plain status", async () => {
    const plain = await getStatus(succeededRunId);
    const off = await getStatus(succeededRunId, "?readLinks=false");
    expect(plain.status).toBe(200);
    expect(off.body).toEqual(plain.body);
    expect(plain.body).not.toHaveProperty("manifestReadLink");
    for (const f of plain.body.files as FileView[]) expect(f).not.toHaveProperty("readLink");
    expect(JSON.stringify(plain.body)).not.toContain("sig=");
    const linked = await getStatus(succeededRunId, "?readLinks=true");
    const strip = (body: Record<string, unknown>): Record<string, unknown> => {
      const { manifestReadLink: _m, ...rest } = body;
      return {
        ...rest,
        files: (rest.files as FileView[]).map(({ readLink: _r, ...f }) => f),
      };
    };
    expect(strip(linked.body)).toEqual(plain.body);
  });
});

describe("GET /api/exports/{runId}?readLinks=…: refusals", () => {
  it("a run that has not succeeded -> 409 naming its status", async () => {
    const queued = await submit("pending");
    const res = await getStatus(queued, "?readLinks=true");
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("retry-after")).toBe("5");
    expect(res.body).toMatchObject({
      type: "urn:referrals-export:problem:run-not-succeeded",
      status: 409,
      runId: queued,
      runStatus: "queued",
    });
    expect(res.body.detail).toContain("queued");

    await runtime.runs.markFailed(queued, { reason: "upstream", message: "test" });
    const failed = await getStatus(queued, "?readLinks=true");
    expect(failed.status).toBe(409);
    expect(failed.body).toMatchObject({ runStatus: "failed" });
    expect(failed.body.detail).toContain("failed");
    expect(failed.headers.get("retry-after")).toBeNull();
    // The plain status of the same run is unaffected.
    expect((await getStatus(queued)).status).toBe(200);
  });

  it.each([["yes"], ["TRUE"], ["1"], [""], ["true&readLinks=true"]])(
    "readLinks=%s -> 400 naming readLinks",
    async (value) => {
      const res = await getStatus(succeededRunId, `?readLinks=${value}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        type: "urn:referrals-export:problem:invalid-request",
        errors: [{ field: "readLinks" }],
      });
      expect(res.body.detail).toContain("readLinks:");
    },
  );

  it("a bad readLinks and a bad run id are named together", async () => {
    const res = await getStatus("not-a-run", "?readLinks=maybe");
    expect(res.status).toBe(400);
    expect((res.body.errors as { field: string }[]).map((e) => e.field)).toEqual(["runId", "readLinks"]);
  });

  it("an unknown run -> 404 (links on)", async () => {
    const res = await getStatus("20200101T000000Z-abcdef", "?readLinks=true");
    expect(res.status).toBe(404);
  });

  it("turned off (HTTP_READ_LINK_MINUTES=0, the default) -> 403 naming the setting, storage untouched", async () => {
    const settings = loadSettings({ ...fixture.env, HTTP_READ_LINK_MINUTES: "0" });
    expect(loadSettings({ ...fixture.env, HTTP_READ_LINK_MINUTES: "" }).httpReadLinkMinutes).toBe(0);
    let touched = false;
    const off: FunctionHost = {
      settings,
      app: () => {
        touched = true;
        return Promise.resolve(runtime);
      },
      jobQueueName: host.jobQueueName,
      apiTokens: testApiTokens(),
    };
    const def = statusDefinition(off);
    const res = await getStatus(succeededRunId, "?readLinks=true", def);
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({
      type: "urn:referrals-export:problem:read-links-disabled",
      status: 403,
      setting: "HTTP_READ_LINK_MINUTES",
    });
    expect(res.body.detail).toContain("HTTP_READ_LINK_MINUTES");
    expect(touched).toBe(false);
    // A runtime built with links off has no signer at all.
    expect(createApp(settings, { partnerCenterCredential: fixtureCredential }).readLinks).toBeUndefined();
    expect(runtime.readLinks).toBeDefined();
    // Without the parameter the status answers as always.
    const plain = await getStatus(succeededRunId, "", def);
    expect(plain.status).toBe(200);
  });
});
