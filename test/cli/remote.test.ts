import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { afterEach, describe, expect, it } from "vitest";
import { cli, type CliResult } from "./cliHarness.js";
import type { CliDeps } from "../../src/cli/main.js";

/**
 * `referrals-export remote …` against a loopback server playing the deployed HTTP API: what is
 * sent (token, body, query), what the user reads, and the exit codes.
 */

const API_CLIENT_ID = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8";
const SCOPE = `api://${API_CLIENT_ID}/.default`;
const RUN_ID = "20261124T020000Z-k3x9qa";
/** Shaped like no credential the redaction knows, so only the CLI's own care keeps it out of output. */
const TOKEN = `remote-api-token-${randomUUID()}`;

interface Seen {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly json?: unknown;
  readonly text?: string;
}

interface FakeApi {
  readonly url: string;
  readonly seen: Seen[];
}

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A loopback HTTP server answering each request with `reply(request, n)` (n counts from 0). */
async function fakeApi(reply: (request: Seen, n: number) => Reply): Promise<FakeApi> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const request: Seen = {
        method: req.method ?? "",
        url: new URL(req.url ?? "/", "http://127.0.0.1"),
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(request);
      const answer = reply(request, seen.length - 1);
      const body = answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? "");
      res.writeHead(answer.status, {
        ...(answer.json !== undefined ? { "content-type": "application/json; charset=utf-8" } : {}),
        ...answer.headers,
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push({ close: () => server.close() });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const problem = (
  status: number,
  type: string,
  extra: Record<string, unknown>,
  headers: Record<string, string> = {},
): Reply => ({
  status,
  headers: { "content-type": "application/problem+json", ...headers },
  text: JSON.stringify({ type: `urn:referrals-export:problem:${type}`, title: type, status, ...extra }),
});

/** A credential handing out TOKEN, recording the scopes asked for. */
function testCredential(): TokenCredential & { scopes: string[] } {
  const scopes: string[] = [];
  return {
    scopes,
    getToken: (scope: string | string[]): Promise<AccessToken> => {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 });
    },
  };
}

/** Runs the CLI; whatever it did, the token is in none of its output. */
async function remote(argv: string[], env: Record<string, string>, deps: CliDeps): Promise<CliResult> {
  const result = await cli(["remote", ...argv], env, deps);
  expect(result.out).not.toContain(TOKEN);
  expect(result.err).not.toContain(TOKEN);
  return result;
}

function envFor(api: FakeApi): Record<string, string> {
  return { REFERRALS_EXPORT_API_URL: api.url, API_CLIENT_ID };
}

function expectSignedIn(request: Seen | undefined): void {
  expect(request?.headers.authorization).toBe(`Bearer ${TOKEN}`);
}

const accepted = (profile = "won-deals", retryAfter = "5"): Reply => ({
  status: 202,
  headers: { location: `/api/exports/${RUN_ID}`, "retry-after": retryAfter },
  json: { runId: RUN_ID, profile, status: "queued", statusUrl: `/api/exports/${RUN_ID}` },
});

function view(status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runId: RUN_ID,
    profile: "won-deals",
    trigger: "http",
    status,
    queuedAt: "2026-11-24T02:00:00.120Z",
    startedAt: status === "queued" ? null : "2026-11-24T02:00:01.004Z",
    completedAt: null,
    durationMs: null,
    attempts: status === "queued" ? 0 : 1,
    rowCount: null,
    manifestPath: null,
    files: [],
    warnings: [],
    error: null,
    lastError: null,
    statusUrl: `/api/exports/${RUN_ID}`,
    ...extra,
  };
}

const SUCCEEDED = view("succeeded", {
  completedAt: "2026-11-24T02:00:09.870Z",
  durationMs: 8866,
  rowCount: 412,
  manifestPath: `won-deals/snapshot_date=2026-11-24/run_id=${RUN_ID}/_manifest.json`,
  files: [
    {
      path: `won-deals/snapshot_date=2026-11-24/run_id=${RUN_ID}/referrals.csv`,
      format: "csv",
      bytes: 18234,
      sha256: "9f2c4e1b7a0d3c5e9f2c4e1b7a0d3c5e",
      rowCount: 412,
    },
  ],
});

describe("remote export", () => {
  it("posts the profile with the user's token and prints the run id and status URL", async () => {
    const api = await fakeApi(() => accepted());
    const credential = testCredential();
    const result = await remote(["export", "--profile", "won-deals"], envFor(api), {
      apiCredential: credential,
    });
    expect(result.code).toBe(0);
    expect(result.out).toContain(`Export ${RUN_ID} queued (profile won-deals)`);
    expect(result.out).toContain(`Status: ${api.url}/api/exports/${RUN_ID}`);
    expect(api.seen).toHaveLength(1);
    const [post] = api.seen;
    expect(post?.method).toBe("POST");
    expect(post?.url.pathname).toBe("/api/exports");
    expectSignedIn(post);
    expect(post?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(post?.body ?? "")).toEqual({ profile: "won-deals" });
    expect(credential.scopes).toEqual([SCOPE]);
  });

  it("sends an ad-hoc request with the local export's field names, and force", async () => {
    const api = await fakeApi(() => accepted("won"));
    const result = await remote(
      [
        "export",
        "--filter",
        "status eq 'Won'",
        "--groupby",
        "customerMarket,wonDate",
        "--aggregation-level",
        "month",
        "--format",
        "csv",
        "--name",
        "won",
        "--force",
        "--json",
        "--api-url",
        `${api.url}/api`,
      ],
      { REFERRALS_EXPORT_API_SCOPE: SCOPE },
      { apiCredential: testCredential() },
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(api.seen[0]?.body ?? "")).toEqual({
      filter: "status eq 'Won'",
      groupby: "customerMarket,wonDate",
      aggregationLevel: "month",
      formats: ["csv"],
      name: "won",
      force: true,
    });
    expect(api.seen[0]?.url.pathname).toBe("/api/exports");
    expect(JSON.parse(result.out)).toEqual({
      runId: RUN_ID,
      profile: "won",
      status: "queued",
      statusUrl: `${api.url}/api/exports/${RUN_ID}`,
    });
  });

  it("--wait follows queued -> running -> succeeded, honouring Retry-After, and prints the summary", async () => {
    const polls = [
      view("queued"),
      view("running"),
      view("running"), // unchanged: no new progress line
      SUCCEEDED,
    ];
    const api = await fakeApi((request, n) =>
      request.method === "POST"
        ? accepted("won-deals", "0")
        : { status: 200, headers: { "retry-after": "0" }, json: polls[n - 1] },
    );
    const credential = testCredential();
    const result = await remote(["export", "--profile", "won-deals", "--wait"], envFor(api), {
      apiCredential: credential,
    });
    expect(result.code).toBe(0);
    expect(api.seen.map((s) => `${s.method} ${s.url.pathname}`)).toEqual([
      "POST /api/exports",
      ...Array<string>(4).fill(`GET /api/exports/${RUN_ID}`),
    ]);
    for (const request of api.seen) expectSignedIn(request);
    const progress = result.errLines.filter((l) => l.startsWith(`Run ${RUN_ID}:`));
    expect(progress).toHaveLength(3);
    expect(progress[0]).toMatch(/: queued \(/);
    expect(progress[1]).toMatch(/: running, attempt 1 \(/);
    expect(progress[2]).toMatch(/: succeeded, attempt 1, 412 rows \(/);
    expect(result.out).toContain(`Export ${RUN_ID} succeeded: 412 rows, 8.9 s`);
    expect(result.out).toContain(
      `won-deals/snapshot_date=2026-11-24/run_id=${RUN_ID}/referrals.csv  18,234 bytes`,
    );
    expect(result.out).toContain("latest: won-deals/latest/");
    // Retry-After: 0 was honoured (the default pause between polls is 5 s).
    expect(result.ms).toBeLessThan(4_000);
    // One token for the whole wait: it is reused until it nears its expiry.
    expect(credential.scopes).toEqual([SCOPE]);
  });

  it("--wait on a failed run prints its reason and exits 1", async () => {
    const api = await fakeApi((request) =>
      request.method === "POST"
        ? accepted("won-deals", "0")
        : {
            status: 200,
            json: view("failed", {
              completedAt: "2026-11-24T02:00:09.870Z",
              error: {
                reason: "count_mismatch",
                message: "Partner Center reported 500 referrals, 498 arrived",
              },
            }),
          },
    );
    const result = await remote(["export", "--profile", "won-deals", "--wait"], envFor(api), {
      apiCredential: testCredential(),
    });
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      `Export ${RUN_ID} failed (count_mismatch): Partner Center reported 500 referrals, 498 arrived`,
    );
    expect(result.err).toContain("Nothing was published; latest/ still holds the previous snapshot.");
    expect(result.out).toBe("");
  });

  it("--wait on a run that needs consent exits 3", async () => {
    const api = await fakeApi((request) =>
      request.method === "POST"
        ? accepted("won-deals", "0")
        : {
            status: 200,
            json: view("failed", {
              error: {
                reason: "consent_required",
                message: "the sign-in expired: run referrals-export auth login --device-code",
              },
            }),
          },
    );
    const result = await remote(["export", "--profile", "won-deals", "--wait"], envFor(api), {
      apiCredential: testCredential(),
    });
    expect(result.code).toBe(3);
    expect(result.err).toContain(`Export ${RUN_ID} failed (consent_required): the sign-in expired`);
  });

  it("--wait gives up at --timeout with exit 4, saying the run goes on", async () => {
    const api = await fakeApi((request) =>
      request.method === "POST"
        ? accepted("won-deals", "0")
        : { status: 200, headers: { "retry-after": "1" }, json: view("running") },
    );
    const result = await remote(
      ["export", "--profile", "won-deals", "--wait", "--timeout", "1s"],
      envFor(api),
      { apiCredential: testCredential() },
    );
    expect(result.code).toBe(4);
    expect(result.err).toMatch(
      new RegExp(`Gave up waiting after 1 s: run ${RUN_ID} is still running and goes on in Azure`),
    );
    expect(result.err).toContain(`referrals-export remote status ${RUN_ID}`);
    // Polled at once, then once more when the timeout came, not in a tight loop.
    expect(api.seen.filter((s) => s.method === "GET").length).toBeLessThanOrEqual(3);
    expect(result.ms).toBeLessThan(5_000);
  });

  it("--wait rides out a 503 with Retry-After while polling", async () => {
    const answers: Reply[] = [
      problem(
        503,
        "storage-unavailable",
        { detail: "Azure Storage could not be reached" },
        { "retry-after": "0" },
      ),
      { status: 200, json: SUCCEEDED },
    ];
    const api = await fakeApi((request, n) =>
      request.method === "POST" ? accepted("won-deals", "0") : (answers[n - 1] ?? { status: 500 }),
    );
    const result = await remote(["export", "--profile", "won-deals", "--wait"], envFor(api), {
      apiCredential: testCredential(),
    });
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/Polling failed \(Azure Storage could not be reached\); trying again in 0 s/);
  });
});

describe("the API's refusals, as the user reads them", () => {
  const run = async (reply: Reply, argv = ["export", "--profile", "won-deals"]): Promise<CliResult> => {
    const api = await fakeApi(() => reply);
    return remote(argv, envFor(api), { apiCredential: testCredential() });
  };

  it("401: quotes the challenge's error_description and points at the scope and tenant", async () => {
    const result = await run({
      status: 401,
      headers: {
        "content-type": "application/problem+json",
        "www-authenticate": `Bearer realm="referrals-export", scope="api://11111111-2222-4333-8444-555555555555/.default", error="invalid_token", error_description="The token's audience api://other is not this API", authorization_uri="https://login.microsoftonline.com/0b7c2d4e-1f3a-4b5c-8d6e-7f8a9b0c1d2e/oauth2/v2.0/authorize"`,
      },
      text: JSON.stringify({
        type: "urn:referrals-export:problem:unauthenticated",
        status: 401,
        detail: "x",
      }),
    });
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      "The API refused the token (401): The token's audience api://other is not this API",
    );
    expect(result.err).toContain(
      `the token was issued for ${SCOPE}, but the API asks for api://11111111-2222-4333-8444-555555555555/.default`,
    );
    expect(result.err).toContain("az login --tenant 0b7c2d4e-1f3a-4b5c-8d6e-7f8a9b0c1d2e");
  });

  it("403: prints the detail naming the role, and how to get it assigned", async () => {
    const result = await run(
      problem(403, "forbidden", {
        detail:
          "This call needs the app role Exports.Run (Exports.Admin includes it); the token carries Exports.Read.",
        requiredRole: "Exports.Run",
      }),
    );
    expect(result.code).toBe(1);
    expect(result.err).toContain("The API refused the call (403): This call needs the app role Exports.Run");
    expect(result.err).toMatch(
      /to get the app role Exports\.Run: ask an administrator .*Who may call the API/,
    );
  });

  it("409: names the run in progress and its status URL", async () => {
    const api = await fakeApi(() =>
      problem(409, "run-in-progress", {
        detail: `Run ${RUN_ID} of profile 'won-deals' is running`,
        runId: RUN_ID,
        profile: "won-deals",
        runStatus: "running",
        statusUrl: `/api/exports/${RUN_ID}`,
      }),
    );
    const result = await remote(["export", "--profile", "won-deals"], envFor(api), {
      apiCredential: testCredential(),
    });
    expect(result.code).toBe(1);
    expect(result.err).toContain(`Another export is in progress (409): run ${RUN_ID} is running.`);
    expect(result.err).toContain(`status: ${api.url}/api/exports/${RUN_ID}`);
    expect(result.err).toContain("--force");
  });

  it("429: prints the detail and the Retry-After seconds", async () => {
    const result = await run(
      problem(
        429,
        "too-many-runs",
        { detail: "At most 10 ad-hoc runs are accepted per hour; the next one can start at 02:41 UTC" },
        { "retry-after": "120" },
      ),
    );
    expect(result.code).toBe(1);
    expect(result.err).toContain("At most 10 ad-hoc runs are accepted per hour");
    expect(result.err).toContain("Try again in 120 s (Retry-After).");
  });

  it("400: prints every field error as its flag, exit 2", async () => {
    const result = await run(
      problem(400, "invalid-request", {
        detail: "…",
        errors: [
          { field: "profile", message: "unknown profile 'won-deals'; configured profiles: all-referrals" },
          { field: "force", message: "must be true or false" },
        ],
      }),
    );
    expect(result.code).toBe(2);
    expect(result.errLines).toContain("The API refused the request (400 invalid-request):");
    expect(result.errLines).toContain(
      "  --profile: unknown profile 'won-deals'; configured profiles: all-referrals",
    );
    expect(result.errLines).toContain("  --force: must be true or false");
  });

  it("5xx without a problem document: status and the start of the body, one line", async () => {
    const result = await run({
      status: 502,
      headers: { "content-type": "text/html" },
      text: `<html><body>${"Bad gateway. ".repeat(40)}\u001b[31m</body></html>`,
    });
    expect(result.code).toBe(1);
    const line = result.errLines.find((l) => l.startsWith("The API failed (502)"));
    expect(line).toMatch(
      /^The API failed \(502\): 502 Bad Gateway \(text\/html\): <html><body>Bad gateway\./,
    );
    expect(line?.length).toBeLessThan(300);
    expect(result.err).not.toContain("\u001b");
  });

  it("a redirect to another origin is not followed, so the token goes nowhere else", async () => {
    const elsewhere = await fakeApi(() => ({ status: 200, json: {} }));
    const result = await run({
      status: 302,
      headers: { location: `${elsewhere.url}/oauth2/authorize?client_id=x&state=y` },
    });
    expect(result.code).toBe(1);
    expect(result.err).toContain(`redirecting to ${elsewhere.url}; redirects are not followed`);
    expect(result.err).not.toContain("state=y");
    expect(elsewhere.seen).toHaveLength(0);
  });
});

describe("remote runs and status", () => {
  it("prints the runs as a table and the next page's token, and passes the token back", async () => {
    const api = await fakeApi((request) =>
      request.url.searchParams.has("continuationToken")
        ? {
            status: 200,
            json: {
              profile: "won-deals",
              limit: 2,
              runs: [view("queued", { runId: "20261123T020000Z-aaaaaa" })],
            },
          }
        : {
            status: 200,
            json: {
              profile: "won-deals",
              limit: 2,
              runs: [
                SUCCEEDED,
                view("failed", {
                  runId: "20261122T020000Z-bbbbbb",
                  error: { reason: "upstream", message: "Partner Center kept failing" },
                }),
              ],
              continuationToken: "WzEsInByb2ZpbGU6d29uLWRlYWxzIl0",
            },
          },
    );
    const env = envFor(api);
    const first = await remote(["runs", "--profile", "won-deals", "--limit", "2"], env, {
      apiCredential: testCredential(),
    });
    expect(first.code).toBe(0);
    expect(first.outLines[0]).toMatch(/^run id\s+profile\s+dataset\s+trigger\s+status\s+rows\s+completed$/);
    expect(first.out).toMatch(
      new RegExp(
        `${RUN_ID}\\s+won-deals\\s+referrals\\s+http\\s+succeeded\\s+412\\s+2026-11-24T02:00:09.870Z`,
      ),
    );
    expect(first.out).toContain("    upstream: Partner Center kept failing");
    expect(first.outLines.at(-1)).toBe(
      "More runs: referrals-export remote runs --profile won-deals --limit 2 --continuation WzEsInByb2ZpbGU6d29uLWRlYWxzIl0",
    );
    expect(Object.fromEntries(api.seen[0]?.url.searchParams ?? [])).toEqual({
      profile: "won-deals",
      limit: "2",
    });
    expectSignedIn(api.seen[0]);

    const second = await remote(
      [
        "runs",
        "--profile",
        "won-deals",
        "--limit",
        "2",
        "--continuation",
        "WzEsInByb2ZpbGU6d29uLWRlYWxzIl0",
        "--json",
      ],
      env,
      { apiCredential: testCredential() },
    );
    expect(second.code).toBe(0);
    expect(api.seen[1]?.url.searchParams.get("continuationToken")).toBe("WzEsInByb2ZpbGU6d29uLWRlYWxzIl0");
    const page = JSON.parse(second.out) as { runs: { runId: string }[]; continuationToken: string | null };
    expect(page.runs.map((r) => r.runId)).toEqual(["20261123T020000Z-aaaaaa"]);
    expect(page.continuationToken).toBeNull();
  });

  it("status --read-links asks for links and prints them whole (they were asked for)", async () => {
    const link = `https://acct.blob.core.windows.net/referrals/won-deals/referrals.csv?sv=2025-01-05&sr=b&sp=r&sig=Zm9vYmFyYmF6cXV4cXV1eGNvcmdl%2Bxyz%3D`;
    const api = await fakeApi(() => ({
      status: 200,
      json: {
        ...SUCCEEDED,
        files: (SUCCEEDED.files as Record<string, unknown>[]).map((f) => ({
          ...f,
          readLink: { url: link, expiresOn: "2026-11-24T09:15:00.000Z" },
        })),
      },
    }));
    const result = await remote(["status", RUN_ID, "--read-links"], envFor(api), {
      apiCredential: testCredential(),
    });
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url.pathname).toBe(`/api/exports/${RUN_ID}`);
    expect(api.seen[0]?.url.searchParams.get("readLinks")).toBe("true");
    expect(result.out).toMatch(/^Status\s+succeeded$/m);
    expect(result.out).toMatch(/^Rows\s+412$/m);
    expect(result.out).toContain(`read link until 2026-11-24T09:15:00.000Z: ${link}`);
    expect(result.err).toContain("Anyone holding a read link can read that file");

    const json = await remote(["status", RUN_ID, "--read-links", "--json"], envFor(api), {
      apiCredential: testCredential(),
    });
    expect((JSON.parse(json.out) as { files: { readLink: { url: string } }[] }).files[0]?.readLink.url).toBe(
      link,
    );
  });

  it("status of a run with a change feed: what it compared and its files", async () => {
    const api = await fakeApi(() => ({
      status: 200,
      json: {
        ...SUCCEEDED,
        changes: {
          previousRunId: "20261123T020000Z-aaaaaa",
          note: null,
          keyFields: ["id"],
          added: 2,
          changed: 5,
          removed: 0,
          files: ["won-deals/run/changes.csv", "won-deals/run/changes.json"],
        },
      },
    }));
    const result = await remote(["status", RUN_ID], envFor(api), { apiCredential: testCredential() });
    expect(result.code).toBe(0);
    expect(result.out).toMatch(
      /^Changes\s+change feed against run 20261123T020000Z-aaaaaa, by id: 2 added, 5 changed, 0 removed\n {2}won-deals\/run\/changes\.csv\n {2}won-deals\/run\/changes\.json$/m,
    );
  });

  it("status without --read-links sends no readLinks parameter", async () => {
    const api = await fakeApi(() => ({ status: 200, json: view("running") }));
    const result = await remote(["status", RUN_ID, "--json"], envFor(api), {
      apiCredential: testCredential(),
    });
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url.search).toBe("");
    expect((JSON.parse(result.out) as { status: string }).status).toBe("running");
  });
});

describe("nothing is sent until the target and the token are right", () => {
  /** A fetch and credential that fail the test if used. */
  const untouched = (): CliDeps & { calls: string[] } => {
    const calls: string[] = [];
    return {
      calls,
      apiCredential: {
        getToken: () => {
          calls.push("token");
          return Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 });
        },
      },
      fetch: () => {
        calls.push("fetch");
        return Promise.resolve(new Response("{}"));
      },
    };
  };

  const cases: [name: string, argv: string[], env: Record<string, string>, message: RegExp][] = [
    [
      "http to a host that is not loopback",
      ["runs", "--api-url", "http://func-abc.azurewebsites.net"],
      { API_CLIENT_ID },
      /--api-url http:\/\/func-abc\.azurewebsites\.net uses http: tokens are only sent over https/,
    ],
    [
      "credentials in the URL",
      ["runs", "--api-url", "https://user:pw@func-abc.azurewebsites.net"],
      { API_CLIENT_ID },
      /--api-url must not carry credentials/,
    ],
    [
      "a key in the URL's query",
      ["runs"],
      { REFERRALS_EXPORT_API_URL: "https://func-abc.azurewebsites.net/?code=abc", API_CLIENT_ID },
      /REFERRALS_EXPORT_API_URL must be the function app's base URL without a query/,
    ],
    ["no API URL", ["runs"], { API_CLIENT_ID }, /--api-url .*REFERRALS_EXPORT_API_URL/],
    [
      "no scope",
      ["status", RUN_ID],
      { REFERRALS_EXPORT_API_URL: "https://func-abc.azurewebsites.net" },
      /pass --scope api:\/\/<API client id>\/\.default, set REFERRALS_EXPORT_API_SCOPE, or set API_CLIENT_ID/,
    ],
    [
      "an export request the local parser refuses, before any setting",
      ["export", "--filter", "bogus eq 'x'"],
      {},
      /--filter: unknown field 'bogus'/,
    ],
    [
      "--timeout without --wait",
      ["export", "--profile", "p", "--timeout", "5m"],
      {},
      /--timeout goes with --wait/,
    ],
    [
      "a bad --timeout",
      ["export", "--profile", "p", "--wait", "--timeout", "forever"],
      {},
      /--timeout 'forever' must be a duration from 1s to 24h/,
    ],
    ["a malformed run id", ["status", "latest"], {}, /'latest' is not a run id/],
    ["a runs limit of 0", ["runs", "--limit", "0"], {}, /--limit must be a whole number from 1 to 50/],
    ["an unknown remote command", ["deploy"], {}, /unknown remote command 'deploy'/],
  ];

  it.each(cases)("%s -> exit 2, nothing sent", async (_name, argv, env, message) => {
    const deps = untouched();
    const result = await remote(argv, env, deps);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.err).toContain("Run 'referrals-export help remote' for usage.");
    expect(deps.calls).toEqual([]);
  });

  it("a token that cannot be had is one line that says to run az login; nothing is sent", async () => {
    const api = await fakeApi(() => ({ status: 500 }));
    const failing: TokenCredential = {
      getToken: () => {
        const error = new Error(
          "ChainedTokenCredential authentication failed.\nCredentialUnavailableError: EnvironmentCredential is unavailable.\nCredentialUnavailableError: Please run 'az login' to set up an account",
        );
        (error as Error & { errors: Error[] }).errors = [
          new Error("EnvironmentCredential is unavailable. No environment variables set."),
          new Error("Please run 'az login' to set up an account"),
        ];
        return Promise.reject(error);
      },
    };
    const result = await remote(["runs"], envFor(api), { apiCredential: failing });
    expect(result.code).toBe(1);
    expect(result.errLines).toEqual([
      `referrals-export: could not get a token for ${SCOPE}: Please run 'az login' to set up an account — run \`az login\``,
    ]);
    expect(api.seen).toHaveLength(0);
  });

  it("help remote and remote --help print the remote help", async () => {
    const viaHelp = await cli(["help", "remote"]);
    const viaFlag = await cli(["remote", "export", "--help"]);
    expect(viaHelp.code).toBe(0);
    expect(viaFlag.out).toBe(viaHelp.out);
    for (const option of [
      "--wait",
      "--timeout",
      "--force",
      "--continuation",
      "--read-links",
      "--api-url",
      "--scope",
    ])
      expect(viaHelp.out).toMatch(new RegExp(`^ {2}${option}\\b.*\\S`, "m"));
    expect((await cli(["--help"])).out).toMatch(/^ {2}remote /m);
  });
});
