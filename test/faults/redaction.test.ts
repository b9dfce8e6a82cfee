import azureFunctions, { type HttpResponseInit } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { httpExportFunctions } from "../../src/functions/httpExports.js";
import { runJob } from "../../src/functions/queueWorker.js";
import type { FunctionDefinition, FunctionHost } from "../../src/functions/runtime.js";
import { JOB_MAX_DEQUEUE_COUNT } from "../../src/runs/jobQueue.js";
import { runBlobName, type RunRecord } from "../../src/runs/runStore.js";
import { findCredentials, recordOutput } from "../support/canary.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext, startFunctionHost } from "../support/functionHost.js";
import { authHeaders } from "../support/apiTokens.js";

/** A caller with every role: these tests are about what the API does once a caller is let in. */
const AUTH = await authHeaders();

const { HttpRequest } = azureFunctions;

/**
 * An upstream error whose body echoes the request's credentials (a bearer token, a refresh token, a
 * SAS signature) reaches no user: not the run record, not `GET /api/exports/{runId}`, not the CLI's
 * output, not a log line. What the error says besides — the status, Partner Center's error code —
 * is still there.
 */

const PROFILE = "faults-redaction";
const BEARER =
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJwYXJ0bmVyY2VudGVyIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi05OQ";
const REFRESH = "sim-rt.UmVmcmVzaFRva2VuRWNob2VkQmFjazAx";
const SIG = "I8tFoSRBgxvjcjOhdZgtY5YEZxFQFNe%2Fy8sQKDrRcLk%3D";
const SECRETS = [BEARER, REFRESH, SIG];
/** Partner Center's error code, inside the description as the service words it. */
const ERROR_CODE = "600123";
const ECHO =
  `Rejected (error code ${ERROR_CODE}): Authorization: Bearer ${BEARER}; ` +
  `refresh_token=${REFRESH}; source ?sv=2026-10-06&sp=r&sig=${SIG}`;

// The client keeps the first 300 characters of a description: all of the echo must fit, or part
// of what this test looks for would be cut off before redaction is even asked.
if (ECHO.length > 300) throw new Error(`the echoed description is ${ECHO.length} characters, over 300`);

type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;

let fixture: ExportFixture;
let runtime: App;
let host: FunctionHost;
let exportsFn: HttpDefinition;
let statusFn: HttpDefinition;
const functionLogs: string[] = [];

beforeAll(async () => {
  fixture = await startExportFixture({
    rows: 20,
    faults: "400@*",
    faultBodies: { "400": { code: "BadRequest", description: ECHO, data: [], source: "PartnerCenter" } },
    env: { EXPORT_PROFILES: JSON.stringify([{ name: PROFILE, formats: ["csv"] }]) },
  });
  ({ runtime, host } = await startFunctionHost(fixture, "redact"));
  const defs = httpExportFunctions(host);
  const http = (name: string): HttpDefinition =>
    defs.find((d): d is HttpDefinition => d.kind === "http" && d.name === name)!;
  exportsFn = http("exports");
  statusFn = http("exportStatus");
});

afterAll(async () => {
  await runtime.jobs.queue.deleteIfExists();
  await runtime.jobs.poisonQueue.deleteIfExists();
  await fixture.close();
  // Every product log line of this file passes the log canary too.
  recordOutput([...fixture.logs, ...functionLogs].join("\n") + "\n");
});

/** No secret of the echo in `text`, verbatim or by shape. */
function expectNoSecrets(text: string, where: string): void {
  SECRETS.forEach((secret, i) => {
    expect(text.includes(secret), `${where} holds secret #${i + 1}`).toBe(false);
  });
  expect(findCredentials(text, SECRETS), where).toEqual([]);
}

/** The error still says what went wrong: Partner Center's status and error code, credentials masked. */
function expectErrorKept(message: string | undefined, where: string): void {
  expect(message, where).toContain("Partner Center answered 400");
  expect(message, where).toContain(`error code ${ERROR_CODE}`);
  expect(message, where).toContain("Authorization: Bearer [redacted]");
  expectNoSecrets(message ?? "", where);
}

async function call(def: HttpDefinition, request: InstanceType<typeof HttpRequest>) {
  const init = (await def.options.handler(
    request,
    invocationContext(def.name, functionLogs),
  )) as HttpResponseInit;
  const text = typeof init.body === "string" ? init.body : "";
  return { status: init.status ?? 200, text, body: JSON.parse(text || "{}") as Record<string, unknown> };
}

const post = (body: unknown) =>
  new HttpRequest({
    method: "POST",
    url: "http://127.0.0.1/api/exports",
    headers: { ...AUTH, "content-type": "application/json" },
    body: { string: JSON.stringify(body) },
  });

const getStatus = (runId: string) =>
  new HttpRequest({
    headers: AUTH,
    method: "GET",
    url: `http://127.0.0.1/api/exports/${runId}`,
    params: { runId },
  });

async function recordText(container: App["runsContainer"], runId: string): Promise<string> {
  return (await container.getBlobClient(runBlobName(runId)).downloadToBuffer()).toString("utf8");
}

/** Takes the next job off the queue as the trigger would deliver it: the parsed JSON object. */
async function receiveJob(): Promise<Record<string, unknown>> {
  const received = await runtime.jobs.queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 300 });
  const item = received.receivedMessageItems[0];
  if (!item) throw new Error("no job on the queue");
  await runtime.jobs.queue.deleteMessage(item.messageId, item.popReceipt);
  return JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as Record<string, unknown>;
}

describe("an upstream error that echoes credentials", () => {
  it("the queue worker's run: the record and the status API hold the error without the secrets", async () => {
    const submitted = await call(exportsFn, post({ profile: PROFILE }));
    expect(submitted.status).toBe(202);
    const runId = submitted.body.runId as string;
    const job = await receiveJob();

    // First delivery: the attempt fails, and the run waits for a redelivery with `lastError`.
    await expect(
      runJob(host, job, invocationContext("exportWorker", functionLogs, { dequeueCount: 1 })),
    ).rejects.toThrow(/failed \(upstream\); the job will be retried/);
    let stored = await recordText(runtime.runsContainer, runId);
    let record = JSON.parse(stored) as RunRecord;
    expect(record).toMatchObject({ status: "queued", lastError: { reason: "upstream" } });
    expectErrorKept(record.lastError?.message, "lastError in the run record");
    expectNoSecrets(stored, "the run record after the first attempt");
    let status = await call(statusFn, getStatus(runId));
    expect(status.status).toBe(200);
    expectErrorKept((status.body.lastError as { message?: string } | null)?.message, "lastError in the API");
    expectNoSecrets(status.text, "GET /api/exports/{runId} of the queued run");

    // Last delivery: the run fails for good, with `error`.
    await expect(
      runJob(
        host,
        job,
        invocationContext("exportWorker", functionLogs, { dequeueCount: JOB_MAX_DEQUEUE_COUNT }),
      ),
    ).rejects.toThrow(/failed \(upstream\); the job moves to the poison queue/);
    stored = await recordText(runtime.runsContainer, runId);
    record = JSON.parse(stored) as RunRecord;
    expect(record).toMatchObject({ status: "failed", error: { reason: "upstream" } });
    expectErrorKept(record.error?.message, "error in the run record");
    expectNoSecrets(stored, "the run record of the failed run");
    status = await call(statusFn, getStatus(runId));
    expect(status.body).toMatchObject({ status: "failed", error: { reason: "upstream" } });
    expectErrorKept((status.body.error as { message?: string } | null)?.message, "error in the API");
    expectNoSecrets(status.text, "GET /api/exports/{runId} of the failed run");

    const list = await call(
      exportsFn,
      new HttpRequest({
        headers: AUTH,
        method: "GET",
        url: `http://127.0.0.1/api/exports?profile=${PROFILE}`,
      }),
    );
    expect(list.status).toBe(200);
    expect(list.text).toContain(runId);
    expectNoSecrets(list.text, "GET /api/exports");

    expect(functionLogs.some((l) => l.includes(runId))).toBe(true);
    expectNoSecrets([...fixture.logs, ...functionLogs].join("\n"), "the log lines");
  });

  it("the status API redacts a record an older version stored unredacted", async () => {
    const runId = "20260101T000000Z-old001";
    const old: RunRecord = {
      schemaVersion: 1,
      runId,
      profile: PROFILE,
      trigger: "timer",
      status: "failed",
      correlationId: "6f1c2b9e-5d2a-4c1e-9b7a-2f4e8d0c1a3b",
      query: { filter: "status eq 'Won'", groupby: null, aggregationLevel: null },
      formats: ["csv"],
      queuedAt: "2026-01-01T00:00:00.000Z",
      completedAt: "2026-01-01T00:00:05.000Z",
      updatedAt: "2026-01-01T00:00:05.000Z",
      attempts: 1,
      warnings: [`read link ?sv=2026-10-06&sig=${SIG} expired`],
      error: { reason: "upstream", message: `Partner Center answered 400: ${ECHO}` },
    };
    const text = JSON.stringify(old);
    await runtime.runsContainer.getBlockBlobClient(runBlobName(runId)).upload(text, Buffer.byteLength(text));

    const status = await call(statusFn, getStatus(runId));
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      runId,
      query: { filter: "status eq 'Won'" },
      warnings: ["read link ?sv=2026-10-06&sig=[redacted] expired"],
    });
    expectErrorKept((status.body.error as { message?: string } | null)?.message, "an old record's error");
    expectNoSecrets(status.text, "GET /api/exports/{runId} of an old record");
  });

  it("a problem response does not echo a credential the request carried", async () => {
    const res = await call(exportsFn, post({ profile: PROFILE, [`refresh_token=${REFRESH}`]: true }));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ type: "urn:referrals-export:problem:invalid-request" });
    expect(res.body.detail).toMatch(/^refresh_token=\[redacted\]: is not a known field \(known: profile, /);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: "refresh_token=[redacted]" })]);
    expectNoSecrets(res.text, "the problem response");
  });

  it("the CLI prints the error without the secrets, and so does `runs list`", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { interactive: false, out: (l) => out.push(l), err: (l) => err.push(l) };
    const deps = {
      openApp: (settings: Parameters<typeof createApp>[0]) =>
        createApp(settings, { partnerCenterCredential: fixtureCredential, logger: fixture.services.logger }),
    };
    const code = await runCli(["export", "--profile", PROFILE], fixture.env, io, deps);
    const exportErr = err.join("\n");
    expect(code).toBe(1);
    const runId = /^Export (\S+) failed \(upstream\): /.exec(exportErr)?.[1];
    expect(runId, exportErr.slice(0, 40)).toBeDefined();
    expectErrorKept(exportErr, "the CLI's stderr");
    const stored = await recordText(fixture.services.runsContainer, runId!);
    expectErrorKept((JSON.parse(stored) as RunRecord).error?.message, "the CLI run's record");
    expectNoSecrets(stored, "the CLI run's record");

    expect(await runCli(["runs", "list", "--profile", PROFILE], fixture.env, io, deps)).toBe(0);
    expect(await runCli(["runs", "list", "--profile", PROFILE, "--json"], fixture.env, io, deps)).toBe(0);
    const all = [...out, ...err].join("\n");
    recordOutput(`${all}\n`);
    expect(all).toContain(runId);
    expect(all).toContain(`error code ${ERROR_CODE}`);
    expectNoSecrets(all, "the CLI's stdout and stderr");
  });
});
