import type { App } from "../../src/app/app.js";
import azureFunctions, { type HttpResponseInit } from "@azure/functions";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { appFunctions } from "../../src/functions/app.js";
import { parseSchedule } from "../../src/functions/ncrontab.js";
import { type FunctionDefinition, type FunctionHost } from "../../src/functions/runtime.js";
import { startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext, startFunctionHost } from "../support/functionHost.js";
import { authHeaders } from "../support/apiTokens.js";

/** A caller with every role: these tests are about what the API does once a caller is let in. */
const AUTH = await authHeaders();

const { HttpRequest } = azureFunctions;

type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;

let fixture: ExportFixture;
let runtime: App;
let host: FunctionHost;
let exportsFn: HttpDefinition;
let statusFn: HttpDefinition;
const logs: string[] = [];

const PROFILES = [
  { name: "all-referrals", formats: ["csv", "json"] },
  {
    name: "won-deals",
    filter: "status eq 'Won'",
    groupby: ["customerMarket", "wonDate"],
    aggregationLevel: "month",
  },
  { name: "conflicts", formats: ["csv"] },
  { name: "listed", formats: ["json"], schedule: false },
];

beforeAll(async () => {
  // Room for the forced runs these tests queue; the limits have tests of their own.
  fixture = await startExportFixture({
    rows: 50,
    env: { EXPORT_PROFILES: JSON.stringify(PROFILES), MAX_ACTIVE_RUNS_PER_PROFILE: "20" },
  });
  ({ runtime, host } = await startFunctionHost(fixture, "http"));
  const defs = appFunctions(host, parseSchedule(fixture.settings.schedule));
  exportsFn = defs.find((d): d is HttpDefinition => d.kind === "http" && d.name === "exports")!;
  statusFn = defs.find((d): d is HttpDefinition => d.kind === "http" && d.name === "exportStatus")!;
});

afterAll(async () => {
  await runtime.jobs.queue.deleteIfExists();
  await runtime.jobs.poisonQueue.deleteIfExists();
  await fixture.close();
});

beforeEach(() => {
  logs.length = 0;
});

interface Result {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(def: HttpDefinition, request: InstanceType<typeof HttpRequest>): Promise<Result> {
  const init = (await def.options.handler(request, invocationContext(def.name, logs))) as HttpResponseInit;
  const text = typeof init.body === "string" ? init.body : "";
  return {
    status: init.status ?? 200,
    headers: new Headers(init.headers),
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function post(body: unknown, raw = false): InstanceType<typeof HttpRequest> {
  const text = raw ? (body as string) : JSON.stringify(body);
  return new HttpRequest({
    method: "POST",
    url: "http://127.0.0.1/api/exports",
    headers: { ...AUTH, "content-type": "application/json" },
    body: { string: text },
  });
}

const getStatus = (runId: string) =>
  new HttpRequest({
    headers: AUTH,
    method: "GET",
    url: `http://127.0.0.1/api/exports/${runId}`,
    params: { runId },
  });

const getList = (query: Record<string, string>) =>
  new HttpRequest({
    headers: AUTH,
    method: "GET",
    url: `http://127.0.0.1/api/exports?${new URLSearchParams(query).toString()}`,
    query,
  });

async function exportBlobCount(): Promise<number> {
  let n = 0;
  for await (const _ of fixture.services.exportContainer.listBlobsFlat()) n++;
  return n;
}

describe("POST /api/exports: bad input", () => {
  const cases: [string, unknown, boolean, string[]][] = [
    ["an unknown profile", { profile: "no-such-profile" }, false, ["profile"]],
    ["a filter that does not parse", { filter: "status eq Won" }, false, ["filter"]],
    ["an unknown groupby field", { groupby: ["customerMarket", "shoeSize"] }, false, ["groupby"]],
    [
      "aggregationLevel without a date groupby",
      { groupby: ["customerMarket"], aggregationLevel: "month" },
      false,
      ["aggregationLevel"],
    ],
    [
      "an unknown aggregationLevel",
      { groupby: ["createdDate"], aggregationLevel: "year" },
      false,
      ["aggregationLevel"],
    ],
    ["a bad format", { formats: ["csv", "xml"] }, false, ["formats[1]"]],
    ["a format given twice", { formats: ["csv", "csv"] }, false, ["formats"]],
    ["an unknown key", { profile: "all-referrals", colour: "red" }, false, ["colour"]],
    ["a wrongly typed field", { filter: 42, force: "yes" }, false, ["filter", "force"]],
    ["a non-JSON body", "{not json", true, ["body"]],
    ["a JSON array body", "[1,2]", true, ["body"]],
    [
      "query fields with a profile",
      { profile: "all-referrals", filter: "status eq 'Won'" },
      false,
      ["filter"],
    ],
    [
      "several bad query fields at once",
      { filter: "contains(", groupby: ["nope"] },
      false,
      ["filter", "groupby"],
    ],
  ];

  it.each(cases)(
    "%s -> 400 problem naming the field, no upstream call, nothing written",
    async (_name, body, raw, fields) => {
      const before = fixture.referralsRequests().length;
      const res = await call(exportsFn, post(body, raw));
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.body).toMatchObject({ type: "urn:referrals-export:problem:invalid-request", status: 400 });
      expect(typeof res.body.title).toBe("string");
      const errors = res.body.errors as { field: string; message: string }[];
      expect(errors.map((e) => e.field)).toEqual(fields);
      for (const e of errors) expect(e.message.length).toBeGreaterThan(3);
      for (const f of fields) expect(res.body.detail).toContain(`${f}:`);
      expect(fixture.referralsRequests().length).toBe(before);
      expect(await exportBlobCount()).toBe(0);
      const peeked = await runtime.jobs.queue.peekMessages({ numberOfMessages: 32 });
      expect(peeked.peekedMessageItems).toHaveLength(0);
    },
  );

  it("names the allowed fields for an unknown key and the configured profiles for an unknown profile", async () => {
    const unknownKey = await call(exportsFn, post({ colour: "red" }));
    expect(JSON.stringify(unknownKey.body.errors)).toContain(
      "profile, name, filter, groupby, aggregationLevel, formats, force",
    );
    const unknownProfile = await call(exportsFn, post({ profile: "nope" }));
    expect(unknownProfile.body.detail).toContain("all-referrals, won-deals, conflicts, listed");
  });

  it("a filter under 2,000 characters whose canonical form is longer -> 400 naming the limit, nothing queued", async () => {
    // Written without the spaces the canonical form puts in: 1,997 characters become 2,196.
    const filter = Array.from({ length: 100 }, (_, i) => `status eq'${String(i).padStart(6, "0")}'`).join(
      "or ",
    );
    expect(filter.length).toBeLessThan(2_000);
    const res = await call(exportsFn, post({ filter }));
    expect(res.status).toBe(400);
    const errors = res.body.errors as { field: string; message: string }[];
    expect(errors.map((e) => e.field)).toEqual(["filter"]);
    expect(errors[0]?.message).toContain("longer than 2000 characters once written in canonical form");
    expect(fixture.referralsRequests()).toHaveLength(0);
    const peeked = await runtime.jobs.queue.peekMessages({ numberOfMessages: 32 });
    expect(peeked.peekedMessageItems).toHaveLength(0);
  });

  it("a body over 16 KB -> 413 problem, no upstream call, nothing written", async () => {
    const res = await call(exportsFn, post({ filter: `customerName eq '${"x".repeat(17_000)}'` }));
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ status: 413, errors: [{ field: "body" }] });
    expect(fixture.referralsRequests()).toHaveLength(0);
    expect(await exportBlobCount()).toBe(0);
  });
});

describe("POST /api/exports: accepted", () => {
  it("queues a profile run: 202, Location, body, a queued run and a base64 job on the queue", async () => {
    const res = await call(exportsFn, post({ profile: "all-referrals" }));
    expect(res.status).toBe(202);
    const runId = res.body.runId as string;
    expect(runId).toMatch(/^\d{8}T\d{6}Z-[a-z0-9]{6}$/);
    expect(res.headers.get("location")).toBe(`/api/exports/${runId}`);
    expect(res.body).toEqual({
      runId,
      profile: "all-referrals",
      status: "queued",
      statusUrl: `/api/exports/${runId}`,
    });

    const peeked = await runtime.jobs.queue.peekMessages({ numberOfMessages: 32 });
    const raw = peeked.peekedMessageItems.map((m) => m.messageText);
    const jobs = raw.map(
      (t) => JSON.parse(Buffer.from(t, "base64").toString("utf8")) as Record<string, unknown>,
    );
    const job = jobs.find((j) => j.runId === runId);
    expect(job).toMatchObject({ runId, profile: "all-referrals", trigger: "http", formats: ["csv", "json"] });
    expect(job?.correlationId).toMatch(/^[0-9a-f-]{36}$/);

    const status = await call(statusFn, getStatus(runId));
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      runId,
      status: "queued",
      profile: "all-referrals",
      trigger: "http",
      startedAt: null,
      completedAt: null,
      rowCount: null,
      files: [],
      error: null,
      correlationId: job?.correlationId,
    });
    expect(status.headers.get("retry-after")).toBe("5");
    // The queued run is the only thing written: no export files, no upstream call.
    expect(fixture.referralsRequests()).toHaveLength(0);
    expect(await exportBlobCount()).toBe(0);
  });

  it("queues an ad-hoc query under the adhoc profile with its canonical query", async () => {
    const res: Result = await call(
      exportsFn,
      post({
        filter: "status eq 'Won'",
        groupby: "customerMarket,createdDate",
        aggregationLevel: "week",
        formats: ["csv"],
      }),
    );
    expect(res.status).toBe(202);
    const status = await call(statusFn, getStatus(res.body.runId as string));
    expect(status.body).toMatchObject({
      profile: "adhoc",
      formats: ["csv"],
      query: {
        filter: "status eq 'Won'",
        groupby: ["customerMarket", "createdDate"],
        aggregationLevel: "week",
      },
    });
  });

  it("an empty body is an ad-hoc export of everything", async () => {
    // The ad-hoc run queued above would answer 409; finish it first.
    const [queued] = await runtime.runs.list({ profile: "adhoc", limit: 1 });
    await runtime.runs.markFailed(queued!.runId, { reason: "upstream", message: "test" });
    const res = await call(exportsFn, post("", true));
    expect(res.status).toBe(202);
    const status = await call(statusFn, getStatus(res.body.runId as string));
    expect(status.body).toMatchObject({
      profile: "adhoc",
      formats: ["csv", "json"],
      query: { filter: null, groupby: null, aggregationLevel: null },
    });
  });
});

describe("409 and force", () => {
  it("refuses a second run of a profile while one is queued, naming it, unless force is true", async () => {
    const first = await call(exportsFn, post({ profile: "conflicts" }));
    expect(first.status).toBe(202);
    const second = await call(exportsFn, post({ profile: "conflicts" }));
    expect(second.status).toBe(409);
    expect(second.headers.get("content-type")).toBe("application/problem+json");
    expect(second.body).toMatchObject({
      type: "urn:referrals-export:problem:run-in-progress",
      status: 409,
      runId: first.body.runId,
      profile: "conflicts",
      runStatus: "queued",
      statusUrl: `/api/exports/${first.body.runId as string}`,
    });
    expect(second.body.detail).toContain(first.body.runId as string);

    const forced = await call(exportsFn, post({ profile: "conflicts", force: true }));
    expect(forced.status).toBe(202);
    expect(forced.body.runId).not.toBe(first.body.runId);
  });

  it("a finished run does not block the next one", async () => {
    const first = await call(exportsFn, post({ profile: "listed" }));
    await runtime.runs.markFailed(first.body.runId as string, { reason: "upstream", message: "test" });
    const next = await call(exportsFn, post({ profile: "listed" }));
    expect(next.status).toBe(202);
  });
});

describe("GET /api/exports/{runId} and GET /api/exports", () => {
  it("404 problem for an unknown run id, 400 for a malformed one", async () => {
    const missing = await call(statusFn, getStatus("20200101T000000Z-abcdef"));
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
    expect(missing.body).toMatchObject({ type: "urn:referrals-export:problem:run-not-found", status: 404 });

    const malformed = await call(statusFn, getStatus("not-a-run"));
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ errors: [{ field: "runId" }] });
  });

  it("shows a failed run's reason and message", async () => {
    const run = await call(exportsFn, post({ profile: "won-deals" }));
    const runId = run.body.runId as string;
    await runtime.runs.markFailed(runId, { reason: "consent_required", message: "sign in again" });
    const status = await call(statusFn, getStatus(runId));
    expect(status.body).toMatchObject({
      status: "failed",
      error: { reason: "consent_required", message: "sign in again" },
    });
    expect(typeof status.body.completedAt).toBe("string");
    expect(status.headers.get("retry-after")).toBeNull();
  });

  it("lists a profile's runs newest first, bounded by limit", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(exportsFn, post({ profile: "listed", force: true }));
      ids.push(res.body.runId as string);
      await new Promise((r) => setTimeout(r, 5));
    }
    const list = await call(exportsFn, getList({ profile: "listed", limit: "2" }));
    expect(list.status).toBe(200);
    const runs = list.body.runs as { runId: string; profile: string }[];
    expect(runs.map((r) => r.runId)).toEqual([ids[2], ids[1]]);
    expect(list.body).toMatchObject({ profile: "listed", limit: 2 });

    const all = await call(exportsFn, getList({}));
    const allRuns = all.body.runs as { runId: string; queuedAt: string }[];
    expect(allRuns.length).toBeGreaterThanOrEqual(5);
    const times = allRuns.map((r) => r.queuedAt);
    expect([...times].sort().reverse()).toEqual(times);

    const bad = await call(exportsFn, getList({ profile: "Bad Name", limit: "500" }));
    expect(bad.status).toBe(400);
    expect((bad.body.errors as { field: string }[]).map((e) => e.field)).toEqual(["profile", "limit"]);
  });

  it("logs carry the run id and correlation id", async () => {
    const res = await call(exportsFn, post({ profile: "all-referrals", force: true }));
    const line = logs.find((l) => l.includes("Export queued"));
    expect(line).toBeDefined();
    const record = JSON.parse(line!) as Record<string, unknown>;
    expect(record.runId).toBe(res.body.runId);
    expect(record.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
