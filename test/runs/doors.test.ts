import azureFunctions, { type HttpResponseInit } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { loadSettings } from "../../src/config/settings.js";
import { httpExportFunctions } from "../../src/functions/httpExports.js";
import type { FunctionDefinition, FunctionHost } from "../../src/functions/runtime.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext } from "../support/functionHost.js";
import { authHeaders, testApiTokens } from "../support/apiTokens.js";

/** A caller with every role: these tests are about what the API does once a caller is let in. */
const AUTH = await authHeaders();

/**
 * The two doors, CLI and HTTP, follow one set of rules: they refuse the same requests with the
 * same messages, take the same lock, and record their runs in the same place.
 */
const { HttpRequest } = azureFunctions;
type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;

const PROFILES = [
  { name: "won-deals", filter: "status eq 'Won'", formats: ["csv", "json"] },
  { name: "everything", formats: ["csv"] },
];

let fixture: ExportFixture;
let names: { runsContainer: string; locksContainer: string; jobQueue: string };
let app: App;
let exportsFn: HttpDefinition;

function appFor(env: Record<string, string>): App {
  return createApp(loadSettings(env), {
    partnerCenterCredential: fixtureCredential,
    logger: fixture.services.logger,
    ...names,
  });
}

beforeAll(async () => {
  fixture = await startExportFixture({ rows: 120, env: { EXPORT_PROFILES: JSON.stringify(PROFILES) } });
  const id = `${process.pid}-${Date.now().toString(36)}`;
  names = {
    runsContainer: `runs-doors-${id}`,
    locksContainer: `locks-doors-${id}`,
    jobQueue: `jobs-doors-${id}`,
  };
  app = appFor(fixture.env);
  await app.ensureStorage();
  const host: FunctionHost = {
    settings: app.settings,
    app: () => Promise.resolve(app),
    jobQueueName: app.jobQueueName,
    apiTokens: testApiTokens(),
  };
  exportsFn = httpExportFunctions(host).find(
    (d): d is HttpDefinition => d.kind === "http" && d.name === "exports",
  )!;
});

afterAll(async () => {
  await app.jobs.queue.deleteIfExists();
  await app.jobs.poisonQueue.deleteIfExists();
  await fixture.close();
});

async function http(
  method: "GET" | "POST",
  body?: unknown,
  query = "",
): Promise<{ status: number; body: Record<string, unknown> }> {
  const request = new HttpRequest({
    method,
    url: `http://127.0.0.1/api/exports${query}`,
    headers: { ...AUTH, "content-type": "application/json" },
    ...(body !== undefined ? { body: { string: JSON.stringify(body) } } : {}),
  });
  const init = (await exportsFn.options.handler(
    request,
    invocationContext("exports", []),
  )) as HttpResponseInit;
  const text = typeof init.body === "string" ? init.body : "";
  return { status: init.status ?? 200, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
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

async function runCount(): Promise<number> {
  return (await app.runs.list({ limit: 50 })).length;
}

describe("CLI and HTTP refuse the same requests with the same messages", () => {
  const cases: [name: string, body: Record<string, unknown>, argv: string[]][] = [
    [
      "formats with a profile",
      { profile: "won-deals", formats: ["csv"] },
      ["export", "--profile", "won-deals", "--format", "csv"],
    ],
    [
      "an ad-hoc name equal to a configured profile",
      { name: "won-deals", filter: "status eq 'Lost'" },
      ["export", "--name", "won-deals", "--filter", "status eq 'Lost'"],
    ],
    ["an unknown profile", { profile: "no-such-profile" }, ["export", "--profile", "no-such-profile"]],
    [
      "a filter with a profile",
      { profile: "everything", filter: "status eq 'Won'" },
      ["export", "--profile", "everything", "--filter", "status eq 'Won'"],
    ],
  ];

  it.each(cases)("%s", async (_name, body, argv) => {
    const before = await runCount();
    const viaHttp = await http("POST", body);
    expect(viaHttp.status).toBe(400);
    const messages = (viaHttp.body.errors as { field: string; message: string }[]).map((e) => e.message);
    expect(messages.length).toBeGreaterThan(0);
    const viaCli = await cli(argv);
    expect(viaCli.code).toBe(2);
    for (const message of messages) expect(viaCli.err).toContain(message);
    expect(await runCount()).toBe(before);
    expect(fixture.referralsRequests()).toHaveLength(0);
  });
});

describe("one run service behind both doors", () => {
  it("a CLI run is recorded with trigger cli and listed by GET /api/exports and `runs list`", async () => {
    const viaCli = await cli(["export", "--profile", "won-deals", "--json"]);
    expect(viaCli.code).toBe(0);
    const runId = (JSON.parse(viaCli.out) as { runId: string }).runId;

    const listed = await http("GET", undefined, "?profile=won-deals");
    expect(listed.status).toBe(200);
    const fromApi = (listed.body.runs as { runId: string; trigger: string; status: string }[]).find(
      (r) => r.runId === runId,
    );
    expect(fromApi).toMatchObject({ trigger: "cli", status: "succeeded" });

    const runs = await cli(["runs", "list", "--profile", "won-deals", "--json"]);
    expect(runs.code).toBe(0);
    const fromCli = (JSON.parse(runs.out) as { runId: string; trigger: string; status: string }[]).find(
      (r) => r.runId === runId,
    );
    expect(fromCli).toMatchObject({ trigger: "cli", status: "succeeded" });
  });

  it("an ad-hoc name can never publish into a profile's latest/, even where that profile is not configured locally", async () => {
    // won-deals/latest/ holds the profile's snapshot (published by the test above or now).
    const published = await cli(["export", "--profile", "won-deals"]);
    expect(published.code).toBe(0);
    const latest = await fixture.services.exportContainer
      .getBlobClient("won-deals/latest/_manifest.json")
      .downloadToBuffer();

    // A CLI whose settings no longer name won-deals.
    const localEnv = { ...fixture.env, EXPORT_PROFILES: JSON.stringify([{ name: "everything" }]) };
    const before = fixture.referralsRequests().length;
    const viaCli = await cli(["export", "--name", "won-deals", "--filter", "status eq 'Lost'"], localEnv);
    expect(viaCli.code).toBe(2);
    expect(viaCli.err).toContain("'won-deals/latest/' holds the snapshot of profile 'won-deals'");
    expect(fixture.referralsRequests().length).toBe(before);
    const after = await fixture.services.exportContainer
      .getBlobClient("won-deals/latest/_manifest.json")
      .downloadToBuffer();
    expect(after.equals(latest)).toBe(true);

    // The HTTP door of an app configured the same way says the same.
    const localApp = appFor(localEnv);
    const host: FunctionHost = {
      settings: localApp.settings,
      app: () => Promise.resolve(localApp),
      jobQueueName: localApp.jobQueueName,
      apiTokens: testApiTokens(),
    };
    const fn = httpExportFunctions(host).find(
      (d): d is HttpDefinition => d.kind === "http" && d.name === "exports",
    )!;
    const init = (await fn.options.handler(
      new HttpRequest({
        method: "POST",
        url: "http://127.0.0.1/api/exports",
        headers: { ...AUTH, "content-type": "application/json" },
        body: { string: JSON.stringify({ name: "won-deals", filter: "status eq 'Lost'" }) },
      }),
      invocationContext("exports", []),
    )) as HttpResponseInit;
    expect(init.status).toBe(400);
    expect(typeof init.body === "string" ? init.body : "").toContain(
      "'won-deals/latest/' holds the snapshot of profile 'won-deals'",
    );
  });

  it("an ad-hoc name of its own publishes, and the same name with another query publishes again", async () => {
    const first = await cli(["export", "--name", "lost-deals", "--filter", "status eq 'Lost'"]);
    expect(first.code).toBe(0);
    const again = await cli(["export", "--name", "lost-deals", "--filter", "status eq 'Declined'"]);
    expect(again.code).toBe(0);
    const manifest = JSON.parse(
      (
        await fixture.services.exportContainer
          .getBlobClient("lost-deals/latest/_manifest.json")
          .downloadToBuffer()
      ).toString("utf8"),
    ) as { source: string; query: { filter: string } };
    expect(manifest).toMatchObject({ source: "adhoc", query: { filter: "status eq 'Declined'" } });
  });
});
