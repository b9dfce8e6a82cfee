import azureFunctions, { type HttpResponseInit } from "@azure/functions";
import { generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { App } from "../../src/app/app.js";
import { appFunctions } from "../../src/functions/app.js";
import { parseSchedule } from "../../src/functions/ncrontab.js";
import type { FunctionDefinition, FunctionHost } from "../../src/functions/runtime.js";
import {
  apiToken,
  authHeaders,
  TEST_API_CLIENT_ID,
  TEST_ISSUER,
  TEST_TENANT_ID,
} from "../support/apiTokens.js";
import { startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { invocationContext, startFunctionHost } from "../support/functionHost.js";

const { HttpRequest } = azureFunctions;
type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;

let fixture: ExportFixture;
let runtime: App;
let host: FunctionHost;
let defs: HttpDefinition[];
const logs: string[] = [];

beforeAll(async () => {
  fixture = await startExportFixture({
    rows: 20,
    env: {
      EXPORT_PROFILES: JSON.stringify([
        { name: "won-deals", formats: ["csv"] },
        { name: "forced", formats: ["csv"] },
      ]),
    },
  });
  ({ runtime, host } = await startFunctionHost(fixture, "apiauth"));
  defs = appFunctions(host, parseSchedule(fixture.settings.schedule)).filter(
    (d): d is HttpDefinition => d.kind === "http",
  );
});

afterAll(async () => {
  await runtime.jobs.queue.deleteIfExists();
  await runtime.jobs.poisonQueue.deleteIfExists();
  await fixture.close();
});

beforeEach(() => {
  logs.length = 0;
});

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

const fn = (name: string, on: HttpDefinition[] = defs): HttpDefinition => on.find((d) => d.name === name)!;

async function call(
  name: string,
  init: {
    method?: string;
    url?: string;
    headers?: Record<string, string>;
    body?: unknown;
    params?: Record<string, string>;
  },
  on: HttpDefinition[] = defs,
): Promise<Answer> {
  const def = fn(name, on);
  const request = new HttpRequest({
    method: init.method ?? "GET",
    url: init.url ?? `http://127.0.0.1/api/${def.options.route}`,
    headers: { ...(init.body !== undefined ? { "content-type": "application/json" } : {}), ...init.headers },
    ...(init.body !== undefined ? { body: { string: JSON.stringify(init.body) } } : {}),
    ...(init.params ? { params: init.params } : {}),
  });
  const response = (await def.options.handler(
    request,
    invocationContext(def.name, logs),
  )) as HttpResponseInit;
  const text = typeof response.body === "string" ? response.body : "";
  return {
    status: response.status ?? 200,
    headers: new Headers(response.headers),
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const submit = (headers: Record<string, string>, body: unknown = { profile: "won-deals" }) =>
  call("exports", { method: "POST", headers, body });

async function runCount(): Promise<number> {
  return (await runtime.runs.list({ limit: 100 })).length;
}

/** Tokens right in every way but one. */
async function flawed(flaw: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    tid: TEST_TENANT_ID,
    oid: "11111111-2222-4333-8444-555555555555",
    azp: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    scp: "user_impersonation",
    roles: ["Exports.Admin"],
  };
  const build = () =>
    new SignJWT(claims)
      .setIssuer(TEST_ISSUER)
      .setAudience(TEST_API_CLIENT_ID)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 600);
  switch (flaw) {
    case "expired":
      return apiToken(["Exports.Admin"], { lifetimeSeconds: -300 });
    case "not yet valid":
      return apiToken(["Exports.Admin"], { claims: { nbf: now + 600 } });
    case "another issuer":
      return apiToken(["Exports.Admin"], {
        claims: { iss: "https://login.microsoftonline.com/99999999-9999-4999-8999-999999999999/v2.0" },
      });
    case "another audience":
      return apiToken(["Exports.Admin"], { claims: { aud: "https://graph.microsoft.com" } });
    case "another tenant":
      return apiToken(["Exports.Admin"], { claims: { tid: "99999999-9999-4999-8999-999999999999" } });
    case "HS256":
      return build()
        .setProtectedHeader({ alg: "HS256", kid: "test-key-1" })
        .sign(new TextEncoder().encode("a shared secret anyone could guess at"));
    case "alg none":
      return new UnsecuredJWT(claims)
        .setIssuer(TEST_ISSUER)
        .setAudience(TEST_API_CLIENT_ID)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + 600)
        .encode();
    case "unpublished key": {
      const { privateKey } = await generateKeyPair("RS256");
      return build().setProtectedHeader({ alg: "RS256", kid: "test-key-1" }).sign(privateKey);
    }
    case "unknown kid": {
      const { privateKey } = await generateKeyPair("RS256");
      return build().setProtectedHeader({ alg: "RS256", kid: "rogue" }).sign(privateKey);
    }
    case "tampered roles": {
      const [header, , signature] = (await apiToken(["Exports.Read"])).split(".");
      const payload = Buffer.from(
        JSON.stringify({
          ...claims,
          iss: TEST_ISSUER,
          aud: TEST_API_CLIENT_ID,
          iat: now,
          nbf: now,
          exp: now + 600,
        }),
      ).toString("base64url");
      return `${header}.${payload}.${signature}`;
    }
    default:
      throw new Error(flaw);
  }
}

describe("a caller without a valid token gets 401 and nothing happens", () => {
  it("no Authorization header: 401 problem with a WWW-Authenticate challenge naming the scope", async () => {
    const before = await runCount();
    const answer = await submit({});
    expect(answer.status).toBe(401);
    expect(answer.headers.get("content-type")).toBe("application/problem+json");
    expect(answer.headers.get("www-authenticate")).toBe(
      `Bearer realm="referrals-export", scope="api://${TEST_API_CLIENT_ID}/.default"`,
    );
    expect(answer.body).toMatchObject({ type: "urn:referrals-export:problem:unauthenticated", status: 401 });
    expect(String(answer.body.detail)).toContain("az account get-access-token");
    expect(await runCount()).toBe(before);
  });

  it("a function key alone grants nothing", async () => {
    for (const headers of [{ "x-functions-key": "k3y" }, {}] as Record<string, string>[]) {
      const answer = await call("exports", {
        url: "http://127.0.0.1/api/exports?code=k3y",
        headers,
      });
      expect(answer.status).toBe(401);
    }
  });

  it("a header that is not 'Bearer <token>' is invalid_request", async () => {
    for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"]) {
      const answer = await submit({ authorization });
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toContain('error="invalid_request"');
    }
  });

  it.each([
    ["expired", "has expired"],
    ["not yet valid", "not valid yet"],
    ["another issuer", "not issued by this tenant"],
    ["another audience", `api://${TEST_API_CLIENT_ID}/.default`],
    ["another tenant", "another tenant"],
    ["HS256", "algorithm is not accepted"],
    ["alg none", "algorithm is not accepted"],
    ["unpublished key", "signature does not verify"],
    ["unknown kid", "key this tenant does not publish"],
    ["tampered roles", "signature does not verify"],
  ])("a token %s: 401 invalid_token saying why, no run", async (flaw, why) => {
    const before = await runCount();
    const token = await flawed(flaw);
    const answer = await submit(bearer(token));
    expect(answer.status).toBe(401);
    const challenge = answer.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain(why);
    expect(String(answer.body.detail)).toContain(why);
    expect(await runCount()).toBe(before);
    // The token is never echoed, in the answer or the logs.
    expect(JSON.stringify(answer.body) + challenge + logs.join("\n")).not.toContain(token.split(".")[1]!);
  });
});

describe("app roles decide what a caller may do", () => {
  it("Exports.Read lists, reads a run and the health, but cannot start an export", async () => {
    const reader = await authHeaders(["Exports.Read"]);
    expect((await call("exports", { headers: reader })).status).toBe(200);
    expect((await call("health", { headers: reader })).status).not.toBe(403);
    const refused = await submit(reader);
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(refused.body).toMatchObject({
      type: "urn:referrals-export:problem:forbidden",
      requiredRole: "Exports.Run",
      assignedRoles: ["Exports.Read"],
    });
    expect(String(refused.body.detail)).toContain("needs the app role Exports.Run");
  });

  it("no role at all: 403 on every route, naming the role each needs", async () => {
    const nobody = await authHeaders([]);
    for (const [name, role] of [
      ["exports", "Exports.Read"],
      ["health", "Exports.Read"],
    ] as const) {
      const answer = await call(name, { headers: nobody });
      expect(answer.status).toBe(403);
      expect(answer.body.requiredRole).toBe(role);
      expect(String(answer.body.detail)).toContain("carries no app role");
    }
    const status = await call("exportStatus", {
      url: "http://127.0.0.1/api/exports/20261124T020000Z-k3x9qa",
      params: { runId: "20261124T020000Z-k3x9qa" },
      headers: nobody,
    });
    expect(status.status).toBe(403);
  });

  it("Exports.Run starts an export (202) but may not force one: that needs Exports.Admin", async () => {
    const runner = await authHeaders(["Exports.Run"]);
    const accepted = await submit(runner, { profile: "forced" });
    expect(accepted.status).toBe(202);
    const forced = await submit(runner, { profile: "forced", force: true });
    expect(forced.status).toBe(403);
    expect(forced.body.requiredRole).toBe("Exports.Admin");
    const admin = await submit(await authHeaders(["Exports.Admin"]), { profile: "forced", force: true });
    expect(admin.status).toBe(202);
  });

  it("an app-only token with Exports.Run starts an export, and the log names the calling app", async () => {
    const app = await authHeaders(["Exports.Run"], {
      kind: "app",
      claims: { azp: "cccccccc-dddd-4eee-8fff-000000000000" },
    });
    const answer = await submit(app, {});
    expect(answer.status).toBe(202);
    expect(logs.join("\n")).toContain("cccccccc-dddd-4eee-8fff-000000000000");
    expect(logs.join("\n")).toMatch(/callerKind[^a-z]+app/);
  });

  it("roles the API does not define grant nothing", async () => {
    const answer = await submit(await authHeaders(["Exports.Owner", "Directory.ReadWrite.All"] as never));
    expect(answer.status).toBe(403);
    expect(answer.body.assignedRoles).toEqual([]);
  });
});

describe("an app without API_CLIENT_ID serves no one", () => {
  it("503 naming the setting, on every HTTP function", async () => {
    const unconfigured: FunctionHost = {
      settings: host.settings,
      app: host.app,
      jobQueueName: host.jobQueueName,
    };
    expect(host.settings.apiAuth).toBeUndefined();
    const bare = appFunctions(unconfigured, parseSchedule(fixture.settings.schedule)).filter(
      (d): d is HttpDefinition => d.kind === "http",
    );
    expect(bare.map((d) => d.name).sort()).toEqual([
      "consent",
      "consentCallback",
      "exportStatus",
      "exports",
      "health",
    ]);
    for (const def of bare) {
      expect(def.options.authLevel).toBe("anonymous");
      // The consent callback is the one door without a token: its single-use state is the proof.
      if (def.name === "consentCallback") continue;
      const answer = await call(
        def.name,
        { method: def.options.methods[0], headers: await authHeaders(), params: { runId: "x" } },
        bare,
      );
      expect(answer.status).toBe(503);
      expect(String(answer.body.detail)).toContain("API_CLIENT_ID");
    }
  });
});
