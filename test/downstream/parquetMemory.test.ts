import { execFile, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPORTER_NODE_OPTIONS } from "../../src/config/nodeOptions.js";
import type { Manifest } from "../../src/export/manifest.js";
import { startExportFixture, TEST_TOKEN, type ExportFixture } from "../support/exportFixture.js";
import { lit, openDuck } from "./support.js";

/**
 * A million referrals to Parquet in its own process, so that process's peak RSS is the
 * exporter's alone (the simulator runs here, in the test's process). The 256 MB target is the
 * benchmark's ("Parquet export peak RSS", `npm run bench`), measured on a quiet machine; here, beside
 * other test files that compete for CPU and so delay collection, peaks vary by tens of MB. This
 * test's bound only catches an encoder that holds the data set: the rows alone take several
 * hundred MB as JavaScript values. The product is compiled
 * as it ships (tsc) into a folder inside the repository, where its dependencies resolve.
 *
 * It runs with the V8 options the product's processes run with (EXPORTER_NODE_OPTIONS: the
 * Functions app's NODE_OPTIONS and the npm scripts), which size the young generation but do not
 * cap the heap; the Parquet encoder's garbage stays in its own thread's small heap (see
 * parquetFormat.ts).
 */
const ROWS = 1_000_000;
const RSS_BOUND_MB = 384;
const DIST = resolve(".tools", `downstream-dist-${process.pid}`);

const CHILD = `
import { randomUUID } from "node:crypto";
import { trustLocalCa } from "./config/localTrust.js";
import { loadSettings } from "./config/settings.js";
import { runExport } from "./export/exporter.js";
import { newRunId } from "./export/runId.js";
import { validateQuery } from "./partnerCenter/query.js";
import { createApp } from "./app/app.js";

const [token, profile] = process.argv.slice(2);
const settings = loadSettings(process.env);
trustLocalCa(process.env.LOCAL_CA_CERT_FILE);
const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
const services = createApp(settings, { partnerCenterCredential: credential });
const started = Date.now();
const { manifest } = await runExport(
  { runId: newRunId(), profile, source: "profile", trigger: "cli", query: validateQuery({}), formats: ["parquet"], correlationId: randomUUID() },
  services.exportEnvironment(),
);
const ms = Date.now() - started;
process.stdout.write(JSON.stringify({ manifest, ms, maxRssKb: process.resourceUsage().maxRSS }));
`;

interface ChildResult {
  readonly manifest: Manifest;
  readonly ms: number;
  readonly maxRssKb: number;
}

let fixture: ExportFixture;

beforeAll(async () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  await promisify(execFile)(process.execPath, [
    tsc,
    "-p",
    "tsconfig.build.json",
    "--outDir",
    DIST,
    "--noCheck",
    "--sourceMap",
    "false",
  ]);
  // The dependencies resolve from the repository's node_modules; the package scope says ESM.
  await writeFile(join(DIST, "package.json"), '{ "type": "module" }\n');
  await writeFile(join(DIST, "memoryChild.js"), CHILD);
  fixture = await startExportFixture({ rows: ROWS });
}, 120_000);

afterAll(async () => {
  await fixture.close();
  await rm(DIST, { recursive: true, force: true });
});

function runChild(profile: string): Promise<ChildResult> {
  return new Promise((done, fail) => {
    const args = [...EXPORTER_NODE_OPTIONS.split(" "), join(DIST, "memoryChild.js"), TEST_TOKEN, profile];
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...fixture.env, LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    child.once("error", fail);
    child.once("exit", (code) => {
      if (code === 0) done(JSON.parse(out) as ChildResult);
      else fail(new Error(`export process exited ${String(code)}: ${err.slice(-2000)}`));
    });
  });
}

describe("Parquet export of a million referrals", () => {
  it(`writes one whole file in bounded memory (peak RSS under ${RSS_BOUND_MB} MB)`, async () => {
    const started = Date.now();
    const result = await runChild("mem-parquet");
    const wallMs = Date.now() - started;
    const file = result.manifest.files[0]!;
    const peakMb = result.maxRssKb / 1024;
    // The numbers the README quotes; printed so a slow or heavy run is visible in the log.
    console.log(
      `parquet ${ROWS.toLocaleString("en-US")} rows: ${file.bytes.toLocaleString("en-US")} bytes, export ${result.ms} ms (process ${wallMs} ms), peak RSS ${peakMb.toFixed(0)} MB`,
    );
    expect(result.manifest.rowCount).toBe(ROWS);
    expect(file).toMatchObject({
      format: "parquet",
      contentType: "application/vnd.apache.parquet",
      rowCount: ROWS,
    });
    expect(peakMb).toBeLessThan(RSS_BOUND_MB);

    // The file is whole: DuckDB reads a million distinct ids from it.
    const dir = await mkdtemp(join(tmpdir(), "referrals-parquet-1m-"));
    const duck = await openDuck();
    try {
      const path = join(dir, "referrals.parquet");
      await mkdir(dir, { recursive: true });
      await fixture.services.exportContainer.getBlobClient(file.path).downloadToFile(path);
      const [row] = await duck.rows(
        `SELECT count(*) AS n, count(DISTINCT id) AS ids, count(*) FILTER (WHERE createdDate IS NULL) AS undated
         FROM read_parquet(${lit(path)})`,
      );
      expect(row).toEqual({ n: BigInt(ROWS), ids: BigInt(ROWS), undated: 0n });
    } finally {
      duck.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
