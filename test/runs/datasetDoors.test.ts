import { randomUUID } from "node:crypto";
import azureFunctions, { type HttpResponseInit } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import type { CliIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/main.js";
import { loadSettings } from "../../src/config/settings.js";
import { newRunId } from "../../src/export/runId.js";
import { httpExportFunctions } from "../../src/functions/httpExports.js";
import type { FunctionDefinition, FunctionHost } from "../../src/functions/runtime.js";
import { adhocFolder } from "../../src/runs/exportRequest.js";
import { decodeJobMessage, isJobMessageError, type JobMessage } from "../../src/runs/jobQueue.js";
import { authHeaders, testApiTokens } from "../support/apiTokens.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext } from "../support/functionHost.js";

/**
 * Every door takes a dataset: an ad-hoc export names one (the HTTP body's `dataset`, the CLI's
 * --dataset), a profile has its own, and the run, its job and its record carry it. Whatever a
 * dataset refuses is refused before anything is sent to Partner Center.
 */
const AUTH = await authHeaders();
const { HttpRequest } = azureFunctions;
type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;

const PROFILES = [
  { name: "won-deals", filter: "status eq 'Won'", formats: ["csv"] },
  { name: "renewals", dataset: "subscriptions", filter: "autoRenewEnabled eq true", formats: ["csv"] },
];

let fixture: ExportFixture;
let names: { runsContainer: string; locksContainer: string; jobQueue: string };
let app: App;
let usgovApp: App;
let usgovEnv: Record<string, string>;
let doors: { global: HttpDefinition[]; usgov: HttpDefinition[] };

function appFor(env: Record<string, string>): App {
  return createApp(loadSettings(env), {
    partnerCenterCredential: fixtureCredential,
    logger: fixture.services.logger,
    ...names,
  });
}

function httpDoors(of: App): HttpDefinition[] {
  const host: FunctionHost = {
    settings: of.settings,
    app: () => Promise.resolve(of),
    jobQueueName: of.jobQueueName,
    apiTokens: testApiTokens(),
  };
  return httpExportFunctions(host).filter((d): d is HttpDefinition => d.kind === "http");
}

beforeAll(async () => {
  fixture = await startExportFixture({ rows: 60, env: { EXPORT_PROFILES: JSON.stringify(PROFILES) } });
  const id = `${process.pid}-${Date.now().toString(36)}`;
  names = { runsContainer: `runs-ds-${id}`, locksContainer: `locks-ds-${id}`, jobQueue: `jobs-ds-${id}` };
  app = appFor(fixture.env);
  await app.ensureStorage();
  usgovEnv = { ...fixture.env, PARTNER_CENTER_CLOUD: "usgov" };
  usgovApp = appFor(usgovEnv);
  doors = { global: httpDoors(app), usgov: httpDoors(usgovApp) };
});

afterAll(async () => {
  await app.jobs.queue.deleteIfExists();
  await app.jobs.poisonQueue.deleteIfExists();
  await fixture.close();
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function post(body: unknown, cloud: "global" | "usgov" = "global"): Promise<Answer> {
  const fn = doors[cloud].find((d) => d.name === "exports")!;
  const request = new HttpRequest({
    method: "POST",
    url: "http://127.0.0.1/api/exports",
    headers: { ...AUTH, "content-type": "application/json" },
    body: { string: JSON.stringify(body) },
  });
  const init = (await fn.options.handler(request, invocationContext("exports", []))) as HttpResponseInit;
  const text = typeof init.body === "string" ? init.body : "";
  return { status: init.status ?? 200, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function status(runId: string): Promise<Record<string, unknown>> {
  const fn = doors.global.find((d) => d.name === "exportStatus")!;
  const request = new HttpRequest({
    method: "GET",
    url: `http://127.0.0.1/api/exports/${runId}`,
    headers: AUTH,
    params: { runId },
  });
  const init = (await fn.options.handler(request, invocationContext("exportStatus", []))) as HttpResponseInit;
  expect(init.status ?? 200).toBe(200);
  return JSON.parse(init.body as string) as Record<string, unknown>;
}

async function cli(
  argv: string[],
  env: Record<string, string> = fixture.env,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { interactive: false, out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await runCli(argv, env, io, { openApp: () => appFor(env) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** Every request that reached any analytics dataset's path. */
function analyticsRequests(): typeof fixture.server.requests {
  return fixture.server.requests.filter((r) => /\/analytics\//i.test(r.path));
}

async function runCount(): Promise<number> {
  return (await app.runs.list({ limit: 50 })).length;
}

async function queuedJob(runId: string): Promise<JobMessage> {
  const peeked = await app.jobs.queue.peekMessages({ numberOfMessages: 32 });
  const jobs = peeked.peekedMessageItems.map((m) => decodeJobMessage(m.messageText));
  const job = jobs.find((j) => j.runId === runId);
  if (!job) throw new Error(`no job for ${runId}`);
  return job;
}

describe("both doors refuse a dataset's invalid query with the same message and no upstream request", () => {
  const cases: [name: string, body: Record<string, unknown>, argv: string[], fragment: string][] = [
    [
      "subscriptions: another dataset's field",
      { dataset: "subscriptions", filter: "wonDate gt '2024-01-01'" },
      ["export", "--dataset", "subscriptions", "--filter", "wonDate gt '2024-01-01'"],
      "unknown field 'wonDate' at position 0 in dataset subscriptions (known fields: customerTenantId, customerName,",
    ],
    [
      "subscriptions: eq on a contains-only field",
      { dataset: "subscriptions", filter: "customerName eq 'Contoso'" },
      ["export", "--dataset", "subscriptions", "--filter", "customerName eq 'Contoso'"],
      "operator 'eq' is not allowed on 'customerName' in dataset subscriptions (allowed on it: contains())",
    ],
    [
      "subscriptions: a quoted boolean",
      { dataset: "subscriptions", filter: "autoRenewEnabled eq 'true'" },
      ["export", "--dataset", "subscriptions", "--filter", "autoRenewEnabled eq 'true'"],
      "'autoRenewEnabled' is a boolean field in dataset subscriptions: write true or false without quotes",
    ],
    [
      "azureUsage: a referrals field in groupby",
      { dataset: "azureUsage", groupby: "meterCategory,status" },
      ["export", "--dataset", "azureUsage", "--groupby", "meterCategory,status"],
      "unknown field 'status' in dataset azureUsage (known fields: customerTenantId, customerName,",
    ],
    [
      "azureUsage: aggregationLevel without its date field",
      { dataset: "azureUsage", groupby: "meterCategory", aggregationLevel: "day" },
      ["export", "--dataset", "azureUsage", "--groupby", "meterCategory", "--aggregation-level", "day"],
      "needs a date field in groupby (date fields of dataset azureUsage: usageDate)",
    ],
    [
      "licensesUsage: aggregationLevel",
      { dataset: "licensesUsage", groupby: "channel", aggregationLevel: "month" },
      ["export", "--dataset", "licensesUsage", "--groupby", "channel", "--aggregation-level", "month"],
      "is not offered by dataset licensesUsage (it has no date field to group by)",
    ],
    [
      "an unknown dataset",
      { dataset: "subscription" },
      ["export", "--dataset", "subscription"],
      'unknown dataset "subscription"; known datasets: referrals, search, subscriptions, indirectResellers, azureUsage, licensesDeployment, licensesUsage',
    ],
    [
      "a dataset with a profile",
      { profile: "won-deals", dataset: "subscriptions" },
      ["export", "--profile", "won-deals", "--dataset", "subscriptions"],
      "cannot be combined with profile: a profile's dataset is set in EXPORT_PROFILES",
    ],
  ];

  it.each(cases)("%s", async (_name, body, argv, fragment) => {
    const before = await runCount();
    const viaHttp = await post(body);
    expect(viaHttp.status).toBe(400);
    const messages = (viaHttp.body.errors as { field: string; message: string }[]).map((e) => e.message);
    expect(messages.some((m) => m.includes(fragment))).toBe(true);
    const viaCli = await cli(argv);
    expect(viaCli.code).toBe(2);
    for (const message of messages) expect(viaCli.err).toContain(message);
    expect(await runCount()).toBe(before);
    expect(analyticsRequests()).toHaveLength(0);
  });

  it("a dataset the configured cloud does not offer, named with the cloud", async () => {
    const message =
      "'licensesDeployment' is not offered in the usgov cloud (PARTNER_CENTER_CLOUD=usgov); Partner Center documents it for: global";
    const viaHttp = await post({ dataset: "licensesDeployment", groupby: "channel" }, "usgov");
    expect(viaHttp.status).toBe(400);
    expect(viaHttp.body.errors).toEqual([{ field: "dataset", message }]);
    const viaCli = await cli(["export", "--dataset", "licensesDeployment", "--groupby", "channel"], usgovEnv);
    expect(viaCli.code).toBe(2);
    expect(viaCli.err).toContain(`--dataset: ${message}`);
    // The same request is fine where the dataset is offered (queued, not run here).
    expect((await post({ dataset: "licensesDeployment", groupby: "channel" })).status).toBe(202);
    expect(analyticsRequests()).toHaveLength(0);
  });
});

describe("the dataset travels with the run", () => {
  it("an ad-hoc HTTP export of subscriptions: its own folder, the job and record name the dataset, the worker asks for it", async () => {
    const accepted = await post({
      dataset: "subscriptions",
      filter: "autoRenewEnabled EQ true",
      groupby: "subscriptionType",
    });
    expect(accepted.status).toBe(202);
    const runId = accepted.body.runId as string;
    expect(accepted.body.profile).toBe("adhoc-subscriptions");
    const job = await queuedJob(runId);
    expect(job).toMatchObject({
      dataset: "subscriptions",
      source: "adhoc",
      query: { filter: "autoRenewEnabled eq true", groupby: ["subscriptionType"], aggregationLevel: null },
    });
    expect(await status(runId)).toMatchObject({ dataset: "subscriptions", status: "queued" });

    fixture.server.clearRequests();
    const outcome = await app.runs.execute(job, { dequeueCount: 1 });
    const upstream = analyticsRequests();
    expect(upstream.length).toBeGreaterThan(0);
    for (const r of upstream) {
      expect(r.path).toBe("/partner/v1/analytics/subscriptions");
      expect(r.query).toMatchObject({ filter: "autoRenewEnabled eq true", groupby: "subscriptionType" });
    }
    expect(outcome.kind).toBe("succeeded");
    expect(await status(runId)).toMatchObject({ dataset: "subscriptions", status: "succeeded" });
    fixture.server.clearRequests();
  });

  it("a profile's dataset goes into its job; a referrals job names none and its record says referrals", async () => {
    const renewals = await post({ profile: "renewals" });
    expect(renewals.status).toBe(202);
    expect(await queuedJob(renewals.body.runId as string)).toMatchObject({
      profile: "renewals",
      dataset: "subscriptions",
      query: { filter: "autoRenewEnabled eq true" },
    });
    const won = await post({ profile: "won-deals" });
    expect(won.status).toBe(202);
    const wonJob = await queuedJob(won.body.runId as string);
    expect("dataset" in wonJob).toBe(false);
    expect(await status(won.body.runId as string)).toMatchObject({
      dataset: "referrals",
      profile: "won-deals",
    });
  });

  it("a CLI ad-hoc export of azureUsage runs against its path with its literal form", async () => {
    fixture.server.clearRequests();
    const viaCli = await cli([
      "export",
      "--dataset",
      "azureUsage",
      "--filter",
      "usageDate ge '2020-01-01'",
      "--json",
    ]);
    expect(viaCli.err).toBe("");
    expect(viaCli.code).toBe(0);
    const manifest = JSON.parse(viaCli.out) as { runId: string; profile: string };
    expect(manifest.profile).toBe(adhocFolder("azureUsage"));
    expect(manifest.profile).toBe("adhoc-azure-usage");
    const upstream = analyticsRequests();
    expect(upstream.length).toBeGreaterThan(0);
    for (const r of upstream) {
      expect(r.path).toBe("/partner/v1/analytics/usage/azure");
      expect(r.query.filter).toBe("usageDate ge cast('2020-01-01',Edm.DateTimeOffset)");
    }
    expect(await status(manifest.runId)).toMatchObject({
      dataset: "azureUsage",
      trigger: "cli",
      status: "succeeded",
    });
    // `runs list` names each run's dataset, in its table and in JSON.
    const table = await cli(["runs", "list", "--profile", "adhoc-azure-usage"]);
    expect(table.code).toBe(0);
    const line = table.out.split("\n").find((l) => l.startsWith(manifest.runId));
    expect(line).toMatch(/^\S+\s+adhoc-azure-usage\s+azureUsage\s+cli\s+succeeded\s/);
    const listed = await cli(["runs", "list", "--json"]);
    const runs = JSON.parse(listed.out) as { runId: string; dataset: string }[];
    expect(runs.find((r) => r.runId === manifest.runId)?.dataset).toBe("azureUsage");
    expect(new Set(runs.map((r) => r.dataset)).has("referrals")).toBe(true);
    fixture.server.clearRequests();
  });

  it("a CLI export says what its change feed compared, or why there is none", async () => {
    const args = ["export", "--dataset", "licensesUsage", "--name", "cli-feed-licenses"];
    const first = await cli(args);
    expect(first.code).toBe(0);
    const firstRun = /^Export (\S+) succeeded/m.exec(first.out)?.[1];
    expect(first.out).toContain(
      "  change feed: nothing compared (No previous snapshot: this is the profile's first published run)",
    );
    const second = await cli(args);
    expect(second.code).toBe(0);
    expect(second.out).toContain(
      `  change feed against run ${firstRun}, by customerTenantId, productId, workloadCode, channel: 0 added, 0 changed, 0 removed`,
    );
    // The feed's files are listed with the data files.
    expect(second.out).toMatch(/\/changes\.csv {2}\d[\d,]* bytes {2}sha256 [0-9a-f]{16}…/);
    expect(second.out).toMatch(/\/changes\.json {2}\d[\d,]* bytes {2}sha256 [0-9a-f]{16}…/);
    // The run's status over HTTP says the same.
    const secondRun = /^Export (\S+) succeeded/m.exec(second.out)?.[1];
    const view = await status(secondRun!);
    expect(view.changes).toEqual({
      previousRunId: firstRun,
      note: null,
      keyFields: ["customerTenantId", "productId", "workloadCode", "channel"],
      added: 0,
      changed: 0,
      removed: 0,
      files: [
        expect.stringMatching(new RegExp(`^cli-feed-licenses/.*run_id=${secondRun}/changes\\.csv$`)),
        expect.stringMatching(new RegExp(`^cli-feed-licenses/.*run_id=${secondRun}/changes\\.json$`)),
      ],
    });

    const search = await cli(["export", "--dataset", "search"]);
    expect(search.code).toBe(0);
    expect(search.out).toMatch(/^ {2}no change feed: .+/m);
    expect(search.out).not.toContain("changes.csv");
    expect((await status(/^Export (\S+) succeeded/m.exec(search.out)![1]!)).changes).toBeNull();
    fixture.server.clearRequests();
  });
});

describe("job messages", () => {
  const job = (extra: Record<string, unknown>): Record<string, unknown> => ({
    runId: newRunId(new Date()),
    profile: "legacy-jobs",
    source: "adhoc",
    trigger: "http",
    query: { filter: "autoRenewEnabled eq true", groupby: null, aggregationLevel: null },
    formats: ["csv"],
    correlationId: randomUUID(),
    ...extra,
  });

  it("a job without a dataset is a referrals job: a subscriptions filter in it fails as a bad request, nothing sent", async () => {
    const message = decodeJobMessage(JSON.stringify(job({})));
    expect(message.dataset).toBeUndefined();
    fixture.server.clearRequests();
    const outcome = await app.runs.execute(message, { dequeueCount: 1 });
    expect(outcome.kind).toBe("failed");
    const run = await app.runs.get(message.runId);
    expect(run).toMatchObject({ dataset: "referrals", status: "failed", error: { reason: "bad_request" } });
    expect(run?.error?.message).toContain(
      "filter: unknown field 'autoRenewEnabled' at position 0 (known fields: id, status,",
    );
    expect(analyticsRequests()).toHaveLength(0);
  });

  it("a job of an unknown dataset is not an export job, and names the dataset ids", () => {
    let error: unknown;
    try {
      decodeJobMessage(JSON.stringify(job({ dataset: "nope" })));
    } catch (caught) {
      error = caught;
    }
    expect(isJobMessageError(error)).toBe(true);
    expect((error as Error).message).toContain("dataset: Invalid option: expected one of");
    expect((error as Error).message).toContain('"licensesUsage"');
  });
});

describe("ad-hoc folders hold one dataset", () => {
  async function publishLatest(folder: string, manifest: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify({
      runId: "20260101T000000Z-aaaaaa",
      query: { filter: null, groupby: null, aggregationLevel: null },
      source: "adhoc",
      files: [],
      ...manifest,
    });
    await app.exportContainer.getBlockBlobClient(`${folder}/latest/_manifest.json`).upload(text, text.length);
  }

  it("names each dataset's default folder", () => {
    expect(
      ["referrals", "subscriptions", "indirectResellers", "licensesDeployment"].map((d) =>
        adhocFolder(d as never),
      ),
    ).toEqual(["adhoc", "adhoc-subscriptions", "adhoc-indirect-resellers", "adhoc-licenses-deployment"]);
  });

  it("refuses a named folder whose latest/ holds another dataset, through both doors", async () => {
    await publishLatest("shared-referrals", { dataset: "referrals" });
    const message =
      "'shared-referrals/latest/' holds a snapshot of dataset referrals (run 20260101T000000Z-aaaaaa), and this export is of dataset subscriptions; an ad-hoc export cannot replace it. Give the ad-hoc export another name";
    const viaHttp = await post({ name: "shared-referrals", dataset: "subscriptions" });
    expect(viaHttp.status).toBe(400);
    expect(viaHttp.body.errors).toEqual([{ field: "name", message }]);
    const viaCli = await cli(["export", "--name", "shared-referrals", "--dataset", "subscriptions"]);
    expect(viaCli.code).toBe(2);
    expect(viaCli.err).toContain(`--name: ${message}`);
    // The same folder still takes referrals.
    expect((await post({ name: "shared-referrals" })).status).toBe(202);
  });

  it("reads a manifest without a dataset as referrals", async () => {
    await publishLatest("older-adhoc", {});
    const refused = await post({ name: "older-adhoc", dataset: "search" });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body.errors)).toContain("holds a snapshot of dataset referrals");
    expect((await post({ name: "older-adhoc" })).status).toBe(202);
    await publishLatest("subs-adhoc", { dataset: "subscriptions" });
    expect((await post({ name: "subs-adhoc", dataset: "subscriptions" })).status).toBe(202);
    expect(analyticsRequests()).toHaveLength(0);
  });
});
