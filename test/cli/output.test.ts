import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Manifest } from "../../src/export/manifest.js";
import { startLocalCloud, type LocalCloud } from "../../src/simulator/localCloud.js";
import { buildProduct, runNode, type Built } from "../support/builtProduct.js";
import { cli, PACKAGE_VERSION } from "./cliHarness.js";

/**
 * The built command as a user runs it (`node dist/cli/main.js`), at the default LOG_LEVEL, against
 * Azurite and the simulated cloud with a stored sign-in: `--json` puts exactly one JSON document on
 * stdout and every log line on stderr. Also the dev host on a busy port.
 */
const PROFILE = "cli-output";

let built: Built;
let cloud: LocalCloud;
let env: Record<string, string>;
const cliJs = (): string => join(built.dist, "cli", "main.js");

beforeAll(async () => {
  built = await buildProduct();
  cloud = await startLocalCloud({ rows: 1_500, seed: 3 });
  env = {
    ...cloud.settingsEnv(),
    EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
    EXPORT_CONTAINER: `cli-output-${process.pid}`,
    EXPORT_PROFILES: JSON.stringify([{ name: PROFILE }]),
  };
  // Consent once, in this process; Key Vault's credential reads AZURE_* from the process environment.
  for (const key of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
    process.env[key] = env[key];
  const login = await cli(["auth", "login", "--device-code"], env);
  expect(login.err).not.toMatch(/referrals-export:/);
  expect(login.code).toBe(0);
}, 180_000);

afterAll(async () => {
  await cloud.close();
  await built.remove();
});

/** stdout must be exactly one JSON document. */
function onlyJson(stdout: string): unknown {
  return JSON.parse(stdout);
}

describe("--json at the default log level", () => {
  it("export --json: one JSON document (the manifest) on stdout, the log lines on stderr", async () => {
    const run = await runNode(cliJs(), ["export", "--profile", PROFILE, "--json"], env);
    expect(run.code).toBe(0);
    const manifest = onlyJson(run.out) as Manifest;
    expect(manifest.profile).toBe(PROFILE);
    expect(manifest.rowCount).toBe(1_500);
    expect(run.err).toMatch(/"msg":"Export started"/);
    expect(run.out).not.toMatch(/"msg":/);

    const runs = await runNode(cliJs(), ["runs", "list", "--profile", PROFILE, "--json"], env);
    expect(runs.code).toBe(0);
    const listed = onlyJson(runs.out) as { runId: string; status: string }[];
    expect(listed.find((r) => r.runId === manifest.runId)?.status).toBe("succeeded");
  });

  it("auth status --json: one JSON document, no token in it", async () => {
    const status = await runNode(cliJs(), ["auth", "status", "--json"], env);
    expect(status.code).toBe(0);
    const report = onlyJson(status.out) as { account: string; token: { ok: boolean } };
    expect(report.account).toBe("partner.admin@contoso.example");
    expect(report.token.ok).toBe(true);
    expect(status.out).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\./);
  });
});

describe("the built command", () => {
  it("--version prints package.json's version from dist/", async () => {
    for (const flag of ["--version", "-V"]) {
      const run = await runNode(cliJs(), [flag], {});
      expect(run.code).toBe(0);
      expect(run.out).toBe(`${PACKAGE_VERSION}\n`);
    }
  });

  it("help answers at once, without settings", async () => {
    const run = await runNode(cliJs(), ["help", "export"], {});
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^Usage: referrals-export export/);
    expect(run.err).toBe("");
  });
});

describe("npm run dev on a busy port", () => {
  it("says so in one line and suggests --port: exit 2, no stack trace", async () => {
    const busy: Server = createServer();
    await new Promise<void>((done) => busy.listen(0, "127.0.0.1", done));
    const address = busy.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const run = await runNode(
        join(built.dist, "devhost", "devHost.js"),
        ["--port", String(port), "--no-timer"],
        { ...env, PARTNER_CENTER_BASE_URL: cloud.url },
      );
      expect(run.code).toBe(2);
      const lines = run.err.split("\n").filter((line) => line !== "" && !line.startsWith('{"ts":'));
      expect(lines).toEqual([expect.stringContaining(`port ${port} on 127.0.0.1 is in use`)]);
      expect(lines[0]).toContain("--port");
      expect(run.err).not.toMatch(/EADDRINUSE|\n\s+at /);
    } finally {
      await new Promise<void>((done) => {
        busy.close(() => {
          done();
        });
      });
    }
  });
});
