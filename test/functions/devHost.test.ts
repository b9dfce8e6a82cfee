import { readFileSync, statSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import { consentWithDeviceCode } from "../../src/auth/consent.js";
import { devHostBanner, startDevHost, type DevHost } from "../../src/devhost/devHost.js";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { loadSettings } from "../../src/config/settings.js";
import { createLogger } from "../../src/logging/logger.js";
import { validateQuery } from "../../src/partnerCenter/query.js";
import { startLocalCloud, type LocalCloud } from "../../src/simulator/localCloud.js";
import { authOptionsFromSettings } from "../../src/app/authOptions.js";
import { createApp } from "../../src/app/app.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { authHeaders, simulatorApiToken, testApiTokens } from "../support/apiTokens.js";
import { cli } from "../cli/cliHarness.js";

/** A caller with every role: these tests are about the host, not who may call it. */
let AUTH = await authHeaders();

/** fetch with that caller's token unless a test sends its own Authorization header. */
const fetch = (input: string, init: RequestInit = {}): Promise<Response> =>
  globalThis.fetch(input, { ...init, headers: { ...AUTH, ...(init.headers as Record<string, string>) } });

/** The export fixture's TLS folder, so this process trusts a single local CA. */
const TEST_TLS_DIR = join(tmpdir(), "referrals-export-test-tls");

let fixture: ExportFixture | undefined;
let dev: DevHost | undefined;
let cloud: LocalCloud | undefined;

afterEach(async () => {
  if (dev) {
    await dev.app.jobs.queue.deleteIfExists().catch(() => undefined);
    await dev.app.jobs.poisonQueue.deleteIfExists().catch(() => undefined);
    await dev.stop();
  }
  await fixture?.close();
  await cloud?.close();
  vi.unstubAllEnvs();
  AUTH = await authHeaders();
  dev = undefined;
  fixture = undefined;
  cloud = undefined;
});

interface Run {
  runId: string;
  status: string;
  rowCount: number | null;
  files: { path: string; format: string; bytes: number; sha256: string; rowCount: number; url: string }[];
  error: { reason: string; message: string } | null;
  durationMs: number | null;
  startedAt: string | null;
  completedAt: string | null;
  correlationId: string;
}

async function postExport(host: DevHost, body: unknown): Promise<Response> {
  return fetch(`${host.url}/api/exports`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Polls the status URL until the run has finished (bounded). */
async function waitForRun(host: DevHost, statusUrl: string): Promise<Run> {
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${host.url}${statusUrl}`);
    expect(res.status).toBe(200);
    const run = (await res.json()) as Run;
    if (run.status === "succeeded" || run.status === "failed") return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run at ${statusUrl} did not finish`);
}

async function startWithFixture(f: ExportFixture, logs: string[]): Promise<DevHost> {
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  return startDevHost({
    env: f.env,
    apiTokens: testApiTokens(),
    port: 0,
    timer: false,
    maxPollingIntervalMs: 200,
    retryDelaySeconds: 1,
    appOptions: {
      runsContainer: `runs-dev-${id}`,
      locksContainer: `locks-dev-${id}`,
      jobQueue: `jobs-dev-${id}`,
      partnerCenterCredential: fixtureCredential,
    },
    logSink: (line) => logs.push(line),
  });
}

describe("dev host on loopback", () => {
  it("POST an export, poll it to succeeded, download the files it names and match the simulator", async () => {
    fixture = await startExportFixture({ rows: 2_500 });
    const logs: string[] = [];
    dev = await startWithFixture(fixture, logs);

    const accepted = await postExport(dev, { profile: "all-referrals" });
    expect(accepted.status).toBe(202);
    const location = accepted.headers.get("location")!;
    const body = (await accepted.json()) as { runId: string; statusUrl: string };
    expect(location).toBe(`/api/exports/${body.runId}`);
    expect(body.statusUrl).toBe(location);

    const run = await waitForRun(dev, location);
    expect(run.status).toBe("succeeded");
    expect(run.error).toBeNull();
    expect(run.rowCount).toBe(2_500);
    expect(run.durationMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(run.completedAt!)).toBeGreaterThanOrEqual(Date.parse(run.startedAt!));
    expect(run.files.map((f) => f.format).sort()).toEqual(["csv", "json"]);

    const expected = fixture.partnerCenter.expected(validateQuery({}));
    expect(expected).toHaveLength(2_500);
    const container = fixture.services.exportContainer;
    for (const file of run.files) {
      expect(file.url).toBe(container.getBlobClient(file.path).url);
      const content = await container.getBlobClient(file.path).downloadToBuffer();
      expect(content.length).toBe(file.bytes);
      expect(createHash("sha256").update(content).digest("hex")).toBe(file.sha256);
      const rows =
        file.format === "csv"
          ? parse<{ id: string }>(content, { columns: true, bom: true })
          : (JSON.parse(content.toString("utf8")) as { id: string }[]);
      expect(rows).toHaveLength(expected.length);
      expect(new Set(rows.map((r) => r.id))).toEqual(
        new Set((expected as { id: string }[]).map((r) => r.id)),
      );
    }

    // The listing shows it, and the logs follow the run by id and correlation id.
    const list = (await (await fetch(`${dev.url}/api/exports?profile=all-referrals`)).json()) as {
      runs: Run[];
    };
    expect(list.runs[0]?.runId).toBe(body.runId);
    const lines = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      lines.some(
        (l) =>
          l.msg === "Export succeeded" && l.runId === body.runId && l.correlationId === run.correlationId,
      ),
    ).toBe(true);
    expect(lines.some((l) => l.msg === "HTTP request" && l.status === 202)).toBe(true);
    expect(logs.join("\n")).not.toContain("fixture-access-token");
  });

  it("a grouped profile's row count equals the simulator's group count", async () => {
    fixture = await startExportFixture({ rows: 1_200 });
    dev = await startWithFixture(fixture, []);
    const accepted = await postExport(dev, { profile: "by-market-month" });
    const run = await waitForRun(dev, accepted.headers.get("location")!);
    expect(run.status).toBe("succeeded");
    const groups = fixture.partnerCenter.expected(
      validateQuery({ groupby: ["customerMarket", "createdDate"], aggregationLevel: "month" }),
    );
    expect(run.rowCount).toBe(groups.length);
    const csv = run.files.find((f) => f.format === "csv")!;
    const rows = parse(await fixture.services.exportContainer.getBlobClient(csv.path).downloadToBuffer(), {
      columns: true,
      bom: true,
    });
    expect(rows).toHaveLength(groups.length);
  });

  it("shows a failed run with its reason, and answers 404, 405 and 400 like the Functions routes", async () => {
    fixture = await startExportFixture({ rows: 300, faults: "short@1", env: { EXPORT_PAGE_SIZE: "100" } });
    dev = await startWithFixture(fixture, []);
    const accepted = await postExport(dev, { profile: "all-referrals" });
    const runId = ((await accepted.json()) as { runId: string }).runId;
    const run = await waitForRun(dev, `/api/exports/${runId}`);
    expect(run).toMatchObject({ status: "failed", error: { reason: "count_mismatch" }, files: [] });

    const missing = await fetch(`${dev.url}/api/exports/20200101T000000Z-abcdef`);
    expect(missing.status).toBe(404);
    const wrongMethod = await fetch(`${dev.url}/api/exports/${runId}`, { method: "DELETE" });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET");
    const noRoute = await fetch(`${dev.url}/api/nothing-here`);
    expect(noRoute.status).toBe(404);
    const bad = await fetch(`${dev.url}/api/exports`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
  });

  it("answers 409 naming the queued run while its job waits for the worker", async () => {
    fixture = await startExportFixture({ rows: 10 });
    const id = randomBytes(3).toString("hex");
    dev = await startDevHost({
      env: fixture.env,
      apiTokens: testApiTokens(),
      port: 0,
      worker: false,
      timer: false,
      appOptions: {
        runsContainer: `runs-409-${id}`,
        locksContainer: `locks-409-${id}`,
        jobQueue: `jobs-409-${id}`,
        partnerCenterCredential: fixtureCredential,
      },
      logSink: () => undefined,
    });
    const first = (await (await postExport(dev, { profile: "all-referrals" })).json()) as { runId: string };
    const conflict = await postExport(dev, { profile: "all-referrals" });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("content-type")).toBe("application/problem+json");
    expect(await conflict.json()).toMatchObject({ status: 409, runId: first.runId, runStatus: "queued" });
    expect((await postExport(dev, { profile: "all-referrals", force: true })).status).toBe(202);
  });
});

describe("npm run dev defaults", () => {
  it("starts its own Azurite and HTTPS simulator when the settings name neither, and exports end to end", async () => {
    const devLogs: string[] = [];
    dev = await startDevHost({
      env: { EXPORT_PROFILES: JSON.stringify([{ name: "everything", formats: ["csv"] }]) },
      port: 0,
      rows: 400,
      timer: false,
      maxPollingIntervalMs: 200,
      // One local CA per test process: CAs of different folders share a subject name.
      tlsDir: TEST_TLS_DIR,
      logSink: (line) => devLogs.push(line),
    });
    expect(dev.simulatorUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // Callers are checked against the simulated Entra ID: a token of the test tenant is refused.
    expect((await postExport(dev, { profile: "everything" })).status).toBe(401);
    const token = await simulatorApiToken(dev.simulatorUrl!, dev.apiCallers!.runner);
    AUTH = { authorization: `Bearer ${token}` };
    const accepted = await postExport(dev, { profile: "everything" });
    expect(accepted.status).toBe(202);
    const run = await waitForRun(dev, accepted.headers.get("location")!);
    expect(run).toMatchObject({ status: "succeeded", rowCount: 400 });
    const adhoc = await postExport(dev, { filter: "status eq 'Won'", formats: ["json"] });
    const adhocRun = await waitForRun(dev, adhoc.headers.get("location")!);

    // The settings for `remote` commands: a file only this user reads; the log names it, not the secret.
    const file = /"callerSettings":"([^"]+)"/.exec(devLogs.join("\n"))?.[1];
    expect(file).toBeTruthy();
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    const values = Object.fromEntries(
      readFileSync(file!, "utf8")
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 2, -1)]),
    );
    expect(values.REFERRALS_EXPORT_API_URL).toBe(dev.url);
    expect(devLogs.join("\n")).not.toContain(values.AZURE_CLIENT_SECRET!);
    for (const name of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
      vi.stubEnv(name, values[name] ?? "");
    const listed = await cli(["remote", "runs", "--profile", "everything"], values);
    expect(listed.err).toBe("");
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(run.runId);
    expect(adhocRun.status).toBe("succeeded");

    // What `npm run dev` prints works as printed: the file it names, then an ad-hoc export that waits.
    expect(dev.callerSettings).toBe(file);
    const banner = devHostBanner(dev, undefined);
    expect(banner).toContain(`set -a; . ${file}; set +a`);
    expect(banner).not.toContain(values.AZURE_CLIENT_SECRET!);
    const printed = /npm run cli -- (remote export [^#\n]*?)\s*#/.exec(banner)?.[1]?.split(" ");
    expect(printed).toEqual(["remote", "export", "--wait"]);
    const waited = await cli(printed!, values);
    expect(waited.err).not.toMatch(/error|refused/i);
    expect(waited.code).toBe(0);
    // Its change feed, from the run's status: the ad-hoc snapshot before it was of another query.
    expect(waited.out).toMatch(
      /change feed: nothing compared \(The previous snapshot \(\S+\) used a different query\)/,
    );
    // Against a real Entra ID the printed call carries a token for the API's scope.
    const real = devHostBanner(
      { url: dev.url, callerSettings: undefined },
      "11111111-2222-3333-4444-555555555555",
    );
    expect(real).toContain(`--scope "api://11111111-2222-3333-4444-555555555555/.default"`);
    expect(real).toMatch(/curl -i -X POST \S+\/api\/exports -H "authorization: Bearer \$TOKEN"/);
    expect(adhocRun.rowCount).toBeLessThan(400);
  });
});

describe("delegated sign-in through the dev host", () => {
  it("with a consented token cache in Key Vault, exports through MSAL against the simulated cloud", async () => {
    cloud = await startLocalCloud({ rows: 600, seed: 3, tlsDir: TEST_TLS_DIR });
    trustLocalCa(cloud.tls.caFile);
    const id = randomBytes(3).toString("hex");
    const env: Record<string, string> = {
      ...cloud.settingsEnv(),
      EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
      EXPORT_CONTAINER: `exp-dlg-${id}`,
      EXPORT_PROFILES: JSON.stringify([{ name: "signed-in", formats: ["csv"] }]),
    };
    // The Key Vault identity is DefaultAzureCredential -> EnvironmentCredential, which reads the process environment.
    for (const name of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
      vi.stubEnv(name, env[name] ?? "");

    // What `referrals-export auth login --device-code` does (the simulator approves the code).
    const settings = loadSettings(env);
    const quiet = createLogger("error", () => undefined);
    const services = createApp(settings, { logger: quiet });
    await services.locksContainer.createIfNotExists();
    await consentWithDeviceCode(authOptionsFromSettings(settings, services.locksContainer, quiet), {
      onPrompt: () => undefined,
      timeoutSeconds: 60,
    });

    const logs: string[] = [];
    dev = await startDevHost({
      env,
      port: 0,
      timer: false,
      maxPollingIntervalMs: 200,
      appOptions: {
        runsContainer: `runs-dlg-${id}`,
        locksContainer: `locks-dlg-${id}`,
        jobQueue: `jobs-dlg-${id}`,
      },
      logSink: (line) => logs.push(line),
    });
    expect(dev.simulatorUrl).toBeUndefined();
    AUTH = { authorization: `Bearer ${await simulatorApiToken(cloud.url, cloud.apiCallers.runner)}` };
    const accepted = await postExport(dev, { profile: "signed-in" });
    const run = await waitForRun(dev, accepted.headers.get("location")!);
    expect(run.error).toBeNull();
    expect(run).toMatchObject({ status: "succeeded", rowCount: 600 });
    expect(cloud.registry.counters.accessTokensIssued).toBeGreaterThan(0);
    for (const token of cloud.registry.issuedTokenStrings()) expect(logs.join("\n")).not.toContain(token);
  });
});
