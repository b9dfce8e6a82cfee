import { randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { HttpResponse, type HttpRequest, type InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { startDevHost, type DevHost } from "../../src/devhost/devHost.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { authHeaders, testApiTokens } from "../support/apiTokens.js";

/** A caller with every role: these tests are about the host, not who may call it. */
const AUTH = await authHeaders();

/** What an HTTP handler of the app was called with, and what it answered. */
interface Handled {
  readonly name: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  status?: number;
}

const handled = vi.hoisted(() => [] as Handled[]);

// The app's own functions, each HTTP handler wrapped to record the request it was handed.
vi.mock(import("../../src/functions/app.js"), async (importOriginal) => {
  const actual = await importOriginal();
  return {
    ...actual,
    appFunctions: (...args: Parameters<typeof actual.appFunctions>) =>
      actual.appFunctions(...args).map((definition) =>
        definition.kind !== "http"
          ? definition
          : {
              ...definition,
              options: {
                ...definition.options,
                handler: async (request: HttpRequest, context: InvocationContext) => {
                  const seen: Handled = {
                    name: definition.name,
                    method: request.method,
                    url: request.url,
                    headers: Object.fromEntries(request.headers.entries()),
                  };
                  handled.push(seen);
                  const result = await definition.options.handler(request, context);
                  seen.status = result instanceof HttpResponse ? result.status : (result.status ?? 200);
                  return result;
                },
              },
            },
      ),
  };
});

interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

interface RawRequest {
  readonly method: string;
  readonly path: string;
  /** Sent as given: no Host is added unless listed here. */
  readonly headers: OutgoingHttpHeaders;
  readonly body?: string;
}

let fixture: ExportFixture;
let dev: DevHost;
let port: number;
let logs: string[];

beforeAll(async () => {
  fixture = await startExportFixture({ rows: 20 });
  logs = [];
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  dev = await startDevHost({
    env: fixture.env,
    apiTokens: testApiTokens(),
    port: 0,
    timer: false,
    worker: false,
    appOptions: {
      runsContainer: `runs-hard-${id}`,
      locksContainer: `locks-hard-${id}`,
      jobQueue: `jobs-hard-${id}`,
      partnerCenterCredential: fixtureCredential,
    },
    logSink: (line) => logs.push(line),
  });
  port = Number(new URL(dev.url).port);
});

afterAll(async () => {
  await dev.app.jobs.queue.deleteIfExists().catch(() => undefined);
  await dev.app.jobs.poisonQueue.deleteIfExists().catch(() => undefined);
  await dev.stop();
  await fixture.close();
});

beforeEach(() => {
  handled.length = 0;
});

/** One request on its own connection, with exactly the headers given (node:http adds no Host). */
function send(raw: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: raw.method,
        path: raw.path,
        // A caller with every role unless the test says otherwise: these tests are about the host.
        headers: { authorization: AUTH.authorization, ...raw.headers },
        setHost: false,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString("utf8"),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${raw.method} ${raw.path} timed out`)));
    req.on("error", reject);
    req.end(raw.body);
  });
}

/** Writes `text` to a fresh connection and returns everything the dev host answers until it closes. */
function sendBytes(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer in 10 s")));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    socket.on("error", reject);
  });
}

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
}

function problemOf(res: RawResponse): ProblemBody {
  expect(res.headers["content-type"]).toBe("application/problem+json");
  const problem = JSON.parse(res.text) as ProblemBody;
  expect(problem.status).toBe(res.status);
  return problem;
}

const exportBody = JSON.stringify({ profile: "all-referrals" });

async function runCount(): Promise<number> {
  return (await dev.app.store.list({ limit: 100 })).length;
}

describe("dev host Host check", () => {
  it("serves Host names of loopback with its own port, in any letter case", async () => {
    for (const host of [`127.0.0.1:${port}`, `LocalHost:${port}`, `[::1]:${port}`]) {
      const res = await send({
        method: "GET",
        path: "/api/exports?profile=all-referrals",
        headers: { host },
      });
      expect(res.status, host).toBe(handled.at(-1)?.status);
    }
    expect(handled.map((h) => h.url)).toEqual([
      `http://127.0.0.1:${port}/api/exports?profile=all-referrals`,
      `http://localhost:${port}/api/exports?profile=all-referrals`,
      `http://[::1]:${port}/api/exports?profile=all-referrals`,
    ]);
  });

  it("refuses a rebound or foreign Host with 421 before any handler runs, and records no run", async () => {
    const before = await runCount();
    for (const host of [
      `evil.example:${port}`,
      `localhost.evil.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      `localhost:${port + 1}`,
      "localhost",
      `localhost:${port}@evil.example`,
    ]) {
      const res = await send({
        method: "POST",
        path: "/api/exports",
        headers: { host, "content-type": "application/json" },
        body: exportBody,
      });
      expect(res.status, host).toBe(421);
      const problem = problemOf(res);
      expect(problem.title).toBe("Misdirected Request");
      expect(problem.detail).toContain(JSON.stringify(host));
      expect(problem.detail).toContain(`localhost:${port}`);
    }
    // An absolute request target naming another server, even under a loopback Host.
    const absolute = await send({
      method: "POST",
      path: `http://evil.example:${port}/api/exports`,
      headers: { host: `127.0.0.1:${port}`, "content-type": "application/json" },
      body: exportBody,
    });
    expect(absolute.status).toBe(421);
    expect(handled).toEqual([]);
    expect(await runCount()).toBe(before);
  });

  it("answers a request without Host, or with two, 400 naming the Host values it serves", async () => {
    const missing = await send({ method: "GET", path: "/api/exports", headers: {} });
    expect(missing.status).toBe(400);
    expect(problemOf(missing).detail).toContain(`127.0.0.1:${port}`);
    // node:http will not send two Host lines; a bare socket will.
    const twice = await sendBytes(
      `GET /api/exports HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
    );
    expect(twice).toMatch(/^HTTP\/1\.1 400 /);
    expect(twice).toContain("exactly one Host header");
    expect(handled).toEqual([]);
  });
});

describe("dev host Origin check", () => {
  it("refuses a cross-origin text/plain POST (what a web page can send without CORS) with 403, and records no run", async () => {
    const before = await runCount();
    for (const origin of [
      "http://evil.example",
      "null",
      `http://localhost:${port + 1}`,
      `https://127.0.0.1:${port}`,
    ]) {
      const res = await send({
        method: "POST",
        path: "/api/exports",
        headers: { host: `127.0.0.1:${port}`, origin, "content-type": "text/plain;charset=UTF-8" },
        body: exportBody,
      });
      expect(res.status, origin).toBe(403);
      const problem = problemOf(res);
      expect(problem.detail).toContain(`Origin ${JSON.stringify(origin)}`);
      expect(problem.detail).toContain(`http://127.0.0.1:${port}`);
    }
    // A browser that leaves Origin out still says where the request came from.
    for (const site of ["cross-site", "same-site"]) {
      const res = await send({
        method: "GET",
        path: "/api/exports",
        headers: { host: `127.0.0.1:${port}`, "sec-fetch-site": site },
      });
      expect(res.status, site).toBe(403);
      expect(problemOf(res).detail).toContain(`Sec-Fetch-Site: ${site}`);
    }
    expect(handled).toEqual([]);
    expect(await runCount()).toBe(before);
  });

  it("passes a same-origin JSON POST to the handler, which records the run", async () => {
    const before = await runCount();
    const res = await send({
      method: "POST",
      path: "/api/exports",
      headers: {
        host: `localhost:${port}`,
        origin: `http://localhost:${port}`,
        "sec-fetch-site": "same-origin",
        "content-type": "Application/JSON; charset=utf-8",
      },
      body: exportBody,
    });
    expect(res.status).toBe(202);
    const { runId } = JSON.parse(res.text) as { runId: string };
    expect(handled.map((h) => `${h.method} ${h.name}`)).toEqual(["POST exports"]);
    expect(await runCount()).toBe(before + 1);
    expect((await dev.app.store.get(runId))?.profile).toBe("all-referrals");
  });
});

describe("dev host request bodies", () => {
  it("answers a non-JSON body 415 with an Accept hint, and records no run", async () => {
    const before = await runCount();
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      undefined,
    ]) {
      const res = await send({
        method: "POST",
        path: "/api/exports",
        headers: { host: `127.0.0.1:${port}`, ...(type ? { "content-type": type } : {}) },
        body: exportBody,
      });
      expect(res.status, type).toBe(415);
      expect(res.headers.accept).toBe("application/json");
      const problem = problemOf(res);
      expect(problem.detail).toContain("Content-Type: application/json");
      expect(problem.detail).toContain(type ? JSON.stringify(type) : "no Content-Type");
    }
    expect(handled).toEqual([]);
    expect(await runCount()).toBe(before);
  });

  it("accepts a POST without a body and without Content-Type: an ad-hoc export of everything", async () => {
    const res = await send({
      method: "POST",
      path: "/api/exports",
      headers: { host: `127.0.0.1:${port}`, "content-length": "0" },
    });
    expect(res.status).toBe(202);
    expect(handled.map((h) => h.name)).toEqual(["exports"]);
  });
});

describe("dev host methods", () => {
  it("answers a method a route lacks 405 with Allow, and answers OPTIONS without any CORS headers", async () => {
    const del = await send({
      method: "DELETE",
      path: "/api/exports",
      headers: { host: `127.0.0.1:${port}` },
    });
    expect(del.status).toBe(405);
    expect(del.headers.allow).toBe("GET, POST");
    expect(problemOf(del).detail).toContain("GET, POST");

    const put = await send({
      method: "PUT",
      path: "/api/exports/20261124T020000Z-abcdef",
      headers: { host: `127.0.0.1:${port}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe("GET");

    // A CORS preflight from the dev host's own origin is still just an OPTIONS request.
    const preflight = await send({
      method: "OPTIONS",
      path: "/api/exports",
      headers: {
        host: `127.0.0.1:${port}`,
        origin: `http://127.0.0.1:${port}`,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization",
      },
    });
    expect(preflight.status).toBe(405);
    expect(preflight.headers.allow).toBe("GET, POST");
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
    expect(handled).toEqual([]);
  });
});

describe("dev host request headers", () => {
  it("hands every request header to the handler unchanged, Authorization included, and logs no token", async () => {
    const bearer = `Bearer dev-host-passthrough-${randomBytes(12).toString("hex")}`;
    const res = await send({
      method: "GET",
      path: "/api/exports?profile=all-referrals",
      headers: {
        host: `127.0.0.1:${port}`,
        authorization: bearer,
        "x-ms-client-request-id": "req-42",
        "x-repeated": ["one", "two"],
        cookie: "a=1",
        "user-agent": "hardening-test/1",
      },
    });
    expect(res.status).toBe(handled[0]?.status);
    expect(handled).toHaveLength(1);
    expect(handled[0]?.headers).toMatchObject({
      host: `127.0.0.1:${port}`,
      authorization: bearer,
      "x-ms-client-request-id": "req-42",
      "x-repeated": "one, two",
      cookie: "a=1",
      "user-agent": "hardening-test/1",
    });

    // The same on a POST that starts an export.
    const post = await send({
      method: "POST",
      path: "/api/exports",
      headers: { host: `127.0.0.1:${port}`, authorization: bearer, "content-type": "application/json" },
      body: JSON.stringify({ profile: "by-market-month" }),
    });
    expect(post.status).toBe(handled[1]?.status);
    expect(handled[1]?.headers.authorization).toBe(bearer);
    expect(logs.join("\n")).not.toContain(bearer.slice("Bearer ".length));
  });
});
