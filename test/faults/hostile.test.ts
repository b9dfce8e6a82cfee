import { createApp, type App } from "../../src/app/app.js";
import { randomBytes } from "node:crypto";
import azureFunctions, { type HttpResponseInit } from "@azure/functions";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import "../support/canary.js";
import { appFunctions } from "../../src/functions/app.js";
import { parseSchedule } from "../../src/functions/ncrontab.js";
import { type FunctionDefinition } from "../../src/functions/runtime.js";
import { startFaultFixture, storageSnapshot, type FaultFixture } from "./harness.js";
import { fixtureCredential } from "../support/exportFixture.js";
import { authHeaders, testApiTokens } from "../support/apiTokens.js";

/** A caller with every role: these tests are about what the API does once a caller is let in. */
const AUTH = await authHeaders();

/**
 * Hostile and malformed input at every door: HTTP bodies and routes, CLI arguments, profile JSON
 * and settings. Each is refused before anything happens, with a message naming what is wrong:
 * 400/413 problem+json or exit 2, no request to Partner Center, nothing written to the export
 * container, nothing queued.
 */
const { HttpRequest, InvocationContext } = azureFunctions;
type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;

const PROFILE = "faults-hostile";
const PROFILES = [{ name: PROFILE }, { name: "faults-hostile-won", filter: "status eq 'Won'" }];
/** Characters that must never reach a terminal or a problem detail raw (a line feed may separate lines). */
const RAW_CONTROL = new RegExp(
  `[${["\\u0000-\\u0009", "\\u000b-\\u001f", "\\u007f-\\u009f", "\\u202a-\\u202e", "\\u2066-\\u2069"].join("")}]`,
);

let fx: FaultFixture;
let runtime: App;
let exportsFn: HttpDefinition;
let statusFn: HttpDefinition;
let tried = 0;

beforeAll(async () => {
  fx = await startFaultFixture({
    profile: PROFILE,
    rows: 50,
    env: { EXPORT_PROFILES: JSON.stringify(PROFILES) },
  });
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  runtime = createApp(fx.settings, {
    partnerCenterCredential: fixtureCredential,
    logger: fx.services.logger,
    runsContainer: `runs-hostile-${id}`,
    locksContainer: `locks-hostile-${id}`,
    jobQueue: `jobs-hostile-${id}`,
  });
  await runtime.ensureStorage();
  const defs = appFunctions(
    {
      settings: fx.settings,
      app: () => Promise.resolve(runtime),
      jobQueueName: `jobs-hostile-${id}`,
      apiTokens: testApiTokens(),
    },
    parseSchedule(fx.settings.schedule),
  );
  exportsFn = defs.find((d): d is HttpDefinition => d.kind === "http" && d.name === "exports")!;
  statusFn = defs.find((d): d is HttpDefinition => d.kind === "http" && d.name === "exportStatus")!;
});

// A refusal that fails must not fail the cases after it: drop whatever it queued.
afterEach(async () => {
  await runtime.jobs.queue.clearMessages();
});

afterAll(async () => {
  await runtime.jobs.queue.deleteIfExists();
  await runtime.jobs.poisonQueue.deleteIfExists();
  await fx.close();
});

interface Answer {
  status: number;
  contentType: string | null;
  body: { detail?: string; errors?: { field: string; message: string }[] } & Record<string, unknown>;
  text: string;
}

async function call(def: HttpDefinition, request: InstanceType<typeof HttpRequest>): Promise<Answer> {
  const context = new InvocationContext({
    invocationId: `inv-${randomBytes(4).toString("hex")}`,
    functionName: def.name,
    logHandler: () => undefined,
  });
  const init = (await def.options.handler(request, context)) as HttpResponseInit;
  const text = typeof init.body === "string" ? init.body : "";
  return {
    status: init.status ?? 200,
    contentType: new Headers(init.headers).get("content-type"),
    body: text ? (JSON.parse(text) as Answer["body"]) : {},
    text,
  };
}

const postText = (text: string, headers: Record<string, string> = {}) =>
  new HttpRequest({
    method: "POST",
    url: "http://127.0.0.1/api/exports",
    headers: { ...AUTH, "content-type": "application/json", ...headers },
    body: { string: text },
  });

/** What there was when the current case started, so one failing case cannot fail the next. */
let baseline = { requests: 0, blobs: [] as string[] };
beforeEach(async () => {
  const storage = await storageSnapshot(fx.container);
  baseline = {
    requests: fx.referralsRequests().length,
    blobs: [...storage.blobs.keys(), ...storage.uncommitted],
  };
});

/** Nothing happened anywhere during this case: no upstream request, no blob, no job. */
async function expectNothingHappened(): Promise<void> {
  expect(fx.referralsRequests()).toHaveLength(baseline.requests);
  const storage = await storageSnapshot(fx.container);
  expect([...storage.blobs.keys(), ...storage.uncommitted]).toEqual(baseline.blobs);
  const jobs = await runtime.jobs.queue.peekMessages({ numberOfMessages: 32 });
  expect(jobs.peekedMessageItems).toHaveLength(0);
}

// -----------------------------------------------------------------------------------------------
// POST /api/exports

const longKey = `k${"e".repeat(999)}`;
const bodyCases: [name: string, body: string, fields: string[], message?: RegExp][] = [
  ["not JSON", "{not json", ["body"], /not valid JSON/],
  ["JSON cut off", '{"profile": "faults-hostile"', ["body"], /not valid JSON/],
  ["JSON null", "null", ["body"], /must be a JSON object/],
  ["a JSON number", "42", ["body"], /must be a JSON object/],
  ["a JSON string", '"faults-hostile"', ["body"], /must be a JSON object/],
  ["a JSON array", '[{"profile":"faults-hostile"}]', ["body"], /must be a JSON object/],
  ["'../' in the profile name", '{"profile":"../etc/passwd"}', ["profile"], /a-z, 0-9/],
  ["a path in the profile name", '{"profile":"faults-hostile/../x"}', ["profile"]],
  ["an upper-case profile name", '{"profile":"FAULTS-HOSTILE"}', ["profile"]],
  ["a 64-character profile name", JSON.stringify({ profile: "p".repeat(64) }), ["profile"], /1-63/],
  ["a zero-width space in the profile name", JSON.stringify({ profile: "faults\u200bhostile" }), ["profile"]],
  ["an RTL override in the profile name", JSON.stringify({ profile: "faults-hostile\u202e" }), ["profile"]],
  ["an unknown profile", '{"profile":"no-such-profile"}', ["profile"], /unknown profile 'no-such-profile'/],
  [
    "filter injection: or 1 eq 1",
    JSON.stringify({ filter: "status eq 'Won' or 1 eq 1" }),
    ["filter"],
    /unknown field '1'/,
  ],
  [
    "filter injection: closing the quote",
    JSON.stringify({ filter: "customerName eq '' or 1 eq 1 or ''" }),
    ["filter"],
    /unknown field '1'/,
  ],
  ["an unbalanced quote", JSON.stringify({ filter: "status eq 'Won" }), ["filter"], /unterminated string/],
  ["an unclosed parenthesis", JSON.stringify({ filter: "(status eq 'Won'" }), ["filter"], /expected '\)'/],
  [
    "an extra closing parenthesis",
    JSON.stringify({ filter: "status eq 'Won')" }),
    ["filter"],
    /no matching '\('/,
  ],
  [
    "an unknown operator (like)",
    JSON.stringify({ filter: "status like 'W%'" }),
    ["filter"],
    /unknown operator 'like'/,
  ],
  [
    "an unknown operator (==)",
    JSON.stringify({ filter: "status == 'Won'" }),
    ["filter"],
    /unknown operator '=='/,
  ],
  [
    "an unknown field",
    JSON.stringify({ filter: "shoeSize eq '42'" }),
    ["filter"],
    /unknown field 'shoeSize'/,
  ],
  [
    "a statement after the filter",
    JSON.stringify({ filter: "status eq 'Won'; DROP TABLE referrals" }),
    ["filter"],
    /unexpected ';'/,
  ],
  [
    "contains() on a date",
    JSON.stringify({ filter: "contains(createdDate,'2020')" }),
    ["filter"],
    /date field/,
  ],
  [
    "a date that is not a date",
    JSON.stringify({ filter: "createdDate gt 'yesterday'" }),
    ["filter"],
    /not a date/,
  ],
  ["a NUL in the filter", JSON.stringify({ filter: "customerName eq 'a\u0000b'" }), ["filter"], /U\+0000/],
  [
    "a C1 control (NEL) in the filter",
    JSON.stringify({ filter: "customerName eq 'a\u0085b'" }),
    ["filter"],
    /U\+0085/,
  ],
  [
    "an RTL override in a filter value",
    JSON.stringify({ filter: "customerName eq 'abc\u202e' or status eq 'Won'" }),
    ["filter"],
    /bidirectional control character U\+202E/,
  ],
  [
    "a zero-width space inside a field name",
    JSON.stringify({ filter: "stat\u200bus eq 'Won'" }),
    ["filter"],
    /unknown field 'stat\\u200bus'.*invisible character; did you mean 'status'/,
  ],
  ["a lone surrogate", '{"filter":"customerName eq \'\\ud800\'"}', ["filter"], /unpaired surrogate U\+D800/],
  [
    "a 3,000-character filter",
    JSON.stringify({ filter: `customerName eq '${"x".repeat(3000)}'` }),
    ["filter"],
    /longer than 2000/,
  ],
  [
    "40 nested parentheses",
    JSON.stringify({ filter: `${"(".repeat(40)}status eq 'Won'${")".repeat(40)}` }),
    ["filter"],
    /nested deeper than 32/,
  ],
  ["a filter that is a number", '{"filter":42}', ["filter"], /must be a string/],
  ["a filter that is an array", '{"filter":["status eq \'Won\'"]}', ["filter"], /must be a string/],
  ["an unknown groupby field", '{"groupby":["customerMarket","shoeSize"]}', ["groupby"], /shoeSize/],
  ["a groupby field twice", '{"groupby":"status,status"}', ["groupby"], /listed twice/],
  ["groupby of numbers", '{"groupby":[1,2]}', ["groupby"]],
  [
    "an unknown aggregationLevel",
    '{"groupby":["createdDate"],"aggregationLevel":"year"}',
    ["aggregationLevel"],
    /day, week, month/,
  ],
  [
    "aggregationLevel without a date",
    '{"groupby":["customerMarket"],"aggregationLevel":"month"}',
    ["aggregationLevel"],
    /date field/,
  ],
  ["an unknown format", '{"formats":["csv","xml"]}', ["formats[1]"], /csv, json/],
  ["formats as a string", '{"formats":"csv"}', ["formats"]],
  ["no formats", '{"formats":[]}', ["formats"], /at least one/],
  ["force as a string", '{"force":"true"}', ["force"], /true or false/],
  ["an unknown field", '{"colour":"red"}', ["colour"], /not a known field/],
  ["a __proto__ field", '{"__proto__":{"profile":"faults-hostile"}}', ["__proto__"], /not a known field/],
  ["a constructor field", '{"constructor":{"name":"x"}}', ["constructor"], /not a known field/],
  [
    "a 1,000-character field name",
    JSON.stringify({ [longKey]: 1 }),
    [longKey.slice(0, 100)],
    /not a known field/,
  ],
  [
    "a query with a profile",
    JSON.stringify({ profile: PROFILE, filter: "status eq 'Won'" }),
    ["filter"],
    /cannot be combined/,
  ],
];

describe("POST /api/exports refuses hostile bodies", () => {
  it.each(bodyCases)("%s -> 400 naming %j", async (_name, body, fields, message) => {
    tried++;
    const res = await call(exportsFn, postText(body));
    expect(res.status).toBe(400);
    expect(res.contentType).toBe("application/problem+json");
    expect(res.body.errors?.map((e) => e.field)).toEqual(fields);
    for (const field of fields) expect(res.body.detail).toContain(`${field}:`);
    if (message) expect(res.body.detail).toMatch(message);
    // The problem text is printable: a hostile value cannot smuggle control characters into it.
    expect(JSON.parse(res.text) as unknown).toBeTruthy();
    expect(String(res.body.detail)).not.toMatch(RAW_CONTROL);
    await expectNothingHappened();
  });

  it("a body over 16 KB -> 413", async () => {
    tried++;
    const res = await call(
      exportsFn,
      postText(JSON.stringify({ filter: `status eq '${"x".repeat(17_000)}'` })),
    );
    expect(res.status).toBe(413);
    expect(res.body.errors).toEqual([{ field: "body", message: "is larger than 16384 bytes" }]);
    await expectNothingHappened();
  });

  it("a Content-Length that announces 10 MB -> 413 before the body is read", async () => {
    tried++;
    const res = await call(exportsFn, postText("{}", { "content-length": String(10 * 1024 * 1024) }));
    expect(res.status).toBe(413);
    await expectNothingHappened();
  });

  it("bytes that are not UTF-8 -> 400 naming the body", async () => {
    tried++;
    const res = await call(
      exportsFn,
      new HttpRequest({
        method: "POST",
        url: "http://127.0.0.1/api/exports",
        headers: { ...AUTH, "content-type": "application/json" },
        body: { bytes: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
      }),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: "body", message: "is not UTF-8 text" }]);
    await expectNothingHappened();
  });
});

describe("GET routes refuse hostile identifiers", () => {
  it.each([
    "../../etc/passwd",
    "20261124T020000Z-k3x9qa/../../x",
    "20261124T020000Z-K3X9QA",
    "%2e%2e%2f",
    "\u202e20261124T020000Z-k3x9qa",
  ])("run id %j -> 400 naming runId", async (runId) => {
    tried++;
    const res = await call(
      statusFn,
      new HttpRequest({
        headers: AUTH,
        method: "GET",
        url: "http://127.0.0.1/api/exports/x",
        params: { runId },
      }),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.map((e) => e.field)).toEqual(["runId"]);
    await expectNothingHappened();
  });

  it.each([
    [{ profile: "../x" }, ["profile"]],
    [{ limit: "1e3" }, ["limit"]],
    [{ profile: "A B", limit: "-1" }, ["profile", "limit"]],
  ])("list query %j -> 400 naming %j", async (query, fields) => {
    tried++;
    const res = await call(
      exportsFn,
      new HttpRequest({
        headers: AUTH,
        method: "GET",
        url: `http://127.0.0.1/api/exports?${new URLSearchParams(query).toString()}`,
        query,
      }),
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.map((e) => e.field)).toEqual(fields);
    await expectNothingHappened();
  });
});

// -----------------------------------------------------------------------------------------------
// CLI arguments

const cliCases: [name: string, argv: string[], message: RegExp][] = [
  ["'../' as the profile", ["export", "--profile", "../etc"], /--profile: must be 1-63 characters/],
  [
    "'../' as the ad-hoc name",
    ["export", "--name", "../etc", "--filter", "status eq 'Won'"],
    /--name: must be 1-63 characters/,
  ],
  [
    "an ad-hoc export named like a configured profile",
    ["export", "--name", PROFILE, "--filter", "status eq 'Won'"],
    /--name: 'faults-hostile' is a configured profile; run it by profile/,
  ],
  ["filter injection", ["export", "--filter", "status eq 'Won' or 1 eq 1"], /--filter: unknown field '1'/],
  ["an unclosed parenthesis", ["export", "--filter", "(status eq 'Won'"], /--filter: expected '\)'/],
  ["an unknown operator", ["export", "--filter", "status ~ 'Won'"], /--filter: unknown operator '~'/],
  [
    "an RTL override in the filter",
    ["export", "--filter", "customerName eq 'a\u202eb'"],
    /bidirectional control character U\+202E/,
  ],
  ["a groupby field twice", ["export", "--groupby", "status,status"], /--groupby: 'status' listed twice/],
  ["an empty groupby", ["export", "--groupby", ""], /--groupby: is empty/],
  [
    "an aggregation level without a group-by",
    ["export", "--aggregation-level", "month"],
    /--aggregation-level: needs a date field/,
  ],
  ["a format twice", ["export", "--format", "csv,csv"], /--format: lists a format twice/],
  ["an empty format", ["export", "--format", ""], /--format: must be one of csv, json/],
  ["an unknown format", ["export", "--format", "xlsx"], /--format: must be one of csv, json/],
  [
    "a profile with a filter",
    ["export", "--profile", PROFILE, "--filter", "status eq 'Won'"],
    /cannot be combined/,
  ],
  ["an unknown option", ["export", "--bogus"], /Unknown option '--bogus'/],
  ["a stray argument", ["export", "stray"], /Unexpected argument 'stray'/],
  ["an option without its value", ["export", "--profile"], /--profile.*argument missing/],
  ["a value for a flag", ["export", "--json=yes"], /--json.*does not take an argument/],
  ["an unknown command", ["exprot", "--profile", PROFILE], /unknown command 'exprot'/],
  [
    "terminal escape sequences in the profile",
    ["export", "--profile", "\u001b[2J\u001b[31mowned"],
    /--profile: must be 1-63 characters/,
  ],
  [
    "a 10,000-character profile",
    ["export", "--profile", "p".repeat(10_000)],
    /--profile: must be 1-63 characters/,
  ],
];

describe("CLI arguments", () => {
  it.each(cliCases)("%s -> exit 2 naming it", async (_name, argv, message) => {
    tried++;
    const result = await fx.cli(argv);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.err).not.toMatch(RAW_CONTROL);
    expect(result.err.length).toBeLessThan(2_000);
    await expectNothingHappened();
  });
});

// -----------------------------------------------------------------------------------------------
// Profile JSON and settings

const settingsCases: [name: string, env: Record<string, string>, message: RegExp][] = [
  ["profiles that are not JSON", { EXPORT_PROFILES: "name=x" }, /EXPORT_PROFILES is not valid JSON/],
  ["profiles as an object", { EXPORT_PROFILES: '{"name":"x"}' }, /EXPORT_PROFILES must be a JSON array/],
  [
    "no profiles",
    { EXPORT_PROFILES: "[]" },
    /EXPORT_PROFILES must be a JSON array with at least one profile/,
  ],
  [
    "'../' as a profile name",
    { EXPORT_PROFILES: '[{"name":"../etc"}]' },
    /EXPORT_PROFILES\[0\]\.name: must be 1-63/,
  ],
  [
    "an RTL override in a profile name",
    { EXPORT_PROFILES: JSON.stringify([{ name: "x\u202e" }]) },
    /EXPORT_PROFILES\[0\]\.name/,
  ],
  [
    "an unknown profile field",
    { EXPORT_PROFILES: '[{"name":"x","colour":"red"}]' },
    /EXPORT_PROFILES\[0\]: Unrecognized key: "colour"/,
  ],
  [
    "a __proto__ profile field",
    { EXPORT_PROFILES: '[{"name":"x","__proto__":{"schedule":false}}]' },
    /Unrecognized key: "__proto__"/,
  ],
  [
    "filter injection in a profile",
    { EXPORT_PROFILES: JSON.stringify([{ name: "x", filter: "status eq 'Won' or 1 eq 1" }]) },
    /EXPORT_PROFILES\[0\]\.filter: unknown field '1'/,
  ],
  [
    "an unknown format in a profile",
    { EXPORT_PROFILES: '[{"name":"x","formats":["xml"]}]' },
    /EXPORT_PROFILES\[0\]\.formats\.0/,
  ],
  [
    "schedule as a string",
    { EXPORT_PROFILES: '[{"name":"x","schedule":"yes"}]' },
    /EXPORT_PROFILES\[0\]\.schedule/,
  ],
  ["a numeric profile name", { EXPORT_PROFILES: '[{"name":123}]' }, /EXPORT_PROFILES\[0\]\.name/],
  [
    "5,000 nested arrays",
    { EXPORT_PROFILES: `${"[".repeat(5000)}${"]".repeat(5000)}` },
    /EXPORT_PROFILES\[0\]/,
  ],
  [
    "a page size in exponent notation",
    { EXPORT_PAGE_SIZE: "1e3" },
    /EXPORT_PAGE_SIZE must be a whole number/,
  ],
  ["a page size of 0", { EXPORT_PAGE_SIZE: "0" }, /EXPORT_PAGE_SIZE must be between 1 and 10000/],
  [
    "a deadline under 10 s",
    { EXPORT_DEADLINE_SECONDS: "9" },
    /EXPORT_DEADLINE_SECONDS must be between 10 and 86400/,
  ],
  ["negative retries", { EXPORT_MAX_RETRIES: "-1" }, /EXPORT_MAX_RETRIES must be a whole number/],
  [
    "an unknown count-mismatch mode",
    { EXPORT_ON_COUNT_MISMATCH: "ignore" },
    /EXPORT_ON_COUNT_MISMATCH must be fail or warn/,
  ],
  ["LOCAL_MODE=yes", { LOCAL_MODE: "yes" }, /LOCAL_MODE must be true or false/],
  ["'../' as the container", { EXPORT_CONTAINER: "../x" }, /EXPORT_CONTAINER must be a valid container name/],
  [
    "a path as the token cache secret",
    { TOKEN_CACHE_SECRET_NAME: "a/b" },
    /TOKEN_CACHE_SECRET_NAME must be 1-127/,
  ],
  ["the China cloud", { PARTNER_CENTER_CLOUD: "china" }, /not offered in the China \(21Vianet\) cloud/],
  [
    "a javascript: base URL",
    { PARTNER_CENTER_BASE_URL: "javascript:alert(1)" },
    /PARTNER_CENTER_BASE_URL must be an http\(s\) URL/,
  ],
  [
    "a base URL with user info",
    { PARTNER_CENTER_BASE_URL: "https://api.partnercenter.microsoft.com@127.0.0.1:9" },
    /PARTNER_CENTER_BASE_URL must not contain a user name or password/,
  ],
  [
    "a line break in a setting value",
    { PARTNER_CENTER_CLOUD: "global\n  - EXPORT_PROFILES is fine" },
    /PARTNER_CENTER_CLOUD must be global or usgov, not 'global\\u000a {2}- EXPORT_PROFILES is fine'/,
  ],
  ["an unknown log level", { LOG_LEVEL: "trace" }, /LOG_LEVEL must be error, warn, info or debug/],
];

describe("profile JSON and settings", () => {
  it.each(settingsCases)("%s -> exit 2 naming the setting", async (_name, env, message) => {
    tried++;
    const result = await fx.cli(["export", "--profile", PROFILE], env);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^referrals-export: Invalid settings:\n {2}- /);
    expect(result.err).toMatch(message);
    // Every line is a problem line: a value cannot add a line of its own.
    for (const line of result.err.split("\n").slice(1)) expect(line).toMatch(/^ {2}- \S/);
    expect(result.err).not.toMatch(RAW_CONTROL);
    await expectNothingHappened();
  });

  it("JSON.parse of a __proto__ key pollutes nothing", () => {
    expect(({} as Record<string, unknown>).schedule).toBeUndefined();
    expect(({} as Record<string, unknown>).profile).toBeUndefined();
  });
});

// -----------------------------------------------------------------------------------------------
// The same doors accept good input (so the refusals above are about the input, not the harness)

describe("after all of the above", () => {
  it("none of the hostile inputs reached Partner Center, storage or the queue", async () => {
    expect(tried).toBeGreaterThanOrEqual(40);
    expect(fx.referralsRequests()).toHaveLength(0);
    const storage = await storageSnapshot(fx.container);
    expect(storage.blobs.size + storage.uncommitted.length).toBe(0);
    const jobs = await runtime.jobs.queue.peekMessages({ numberOfMessages: 32 });
    expect(jobs.peekedMessageItems).toHaveLength(0);
  });

  it("a quote-doubled value stays one literal upstream: no injection through the filter", async () => {
    const filter = "customerName eq 'O''Brien'' or ''1'' eq ''1'";
    const result = await fx.cli(["export", "--name", "faults-hostile-adhoc", "--filter", filter]);
    expect(result.code).toBe(0);
    const sent = fx.referralsRequests().map((r) => r.query.filter);
    expect(sent).toEqual([filter]);
    const storage = await storageSnapshot(fx.container);
    const json = storage.blobs.get("faults-hostile-adhoc/latest/referrals.json")!;
    expect(JSON.parse(json.toString("utf8"))).toEqual([]); // no customer has that odd name
  });

  it("the HTTP door accepts a valid body (202) and the CLI a valid profile (exit 0)", async () => {
    const res = await call(exportsFn, postText(JSON.stringify({ profile: PROFILE })));
    expect(res.status).toBe(202);
    const result = await fx.cli(["export", "--profile", PROFILE]);
    expect(result.code).toBe(0);
    const storage = await storageSnapshot(fx.container);
    expect(storage.blobs.has(`${PROFILE}/latest/_manifest.json`)).toBe(true);
  });
});
