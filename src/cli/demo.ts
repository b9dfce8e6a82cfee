import { spawn } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BlobServiceClient } from "@azure/storage-blob";
import type { Manifest } from "../export/manifest.js";
import { startAzurite } from "../simulator/azurite.js";
import { startLocalCloud } from "../simulator/localCloud.js";

/**
 * `npm run demo`: Azurite + the simulator, a one-time consent through the device-code flow,
 * then one raw and one grouped export, each in its own `referrals-export` process exactly as
 * an admin would run them (MSAL, Key Vault and Storage code paths included). The blobs are
 * copied to ./demo-output/ with the same paths as in the container.
 */
const CLI = join(dirname(fileURLToPath(import.meta.url)), "main.js");
const OUTPUT = resolve("demo-output");
const CONTAINER = "referrals";
const PROFILES = [
  { name: "all-referrals", formats: ["csv", "json"] },
  {
    name: "won-by-market-month",
    filter: "status eq 'Won'",
    groupby: ["customerMarket", "wonDate"],
    aggregationLevel: "month",
    formats: ["csv", "json"],
  },
];

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.once("error", fail);
    child.once("exit", (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, out, err });
    });
  });
}

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

async function main(): Promise<number> {
  step("Starting Azurite (in memory) and the Partner Center / Entra ID / Key Vault simulator");
  const azurite = await startAzurite();
  const cloud = await startLocalCloud({ rows: 50_000, seed: 7 });
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...cloud.settingsEnv(),
      EXPORT_STORAGE_CONNECTION_STRING: azurite.connectionString,
      EXPORT_CONTAINER: CONTAINER,
      EXPORT_PROFILES: JSON.stringify(PROFILES),
      LOG_LEVEL: "warn",
    };
    console.log(
      `Azurite blob endpoint http://127.0.0.1:${azurite.blobPort}, simulator ${cloud.url} (50,000 referrals)`,
    );

    step("referrals-export auth login --device-code   (the simulator approves the code)");
    const login = await run(["auth", "login", "--device-code"], env);
    process.stdout.write(login.out);
    if (login.code !== 0) throw new Error(`auth login failed (exit ${login.code}):\n${login.err}`);

    const summaries: Manifest[] = [];
    for (const profile of PROFILES) {
      step(`referrals-export export --profile ${profile.name}`);
      const result = await run(["export", "--profile", profile.name, "--json"], env);
      if (result.code !== 0)
        throw new Error(`export of ${profile.name} failed (exit ${result.code}):\n${result.err}`);
      const manifest = JSON.parse(result.out) as Manifest;
      summaries.push(manifest);
      console.log(
        `run ${manifest.runId}: ${manifest.rowCount.toLocaleString("en-US")} rows in ${manifest.pages} page(s)`,
      );
    }

    step("referrals-export auth status");
    const status = await run(["auth", "status"], env);
    process.stdout.write(status.out);

    step(`Copying the container to ${OUTPUT}/`);
    await rm(OUTPUT, { recursive: true, force: true });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      CONTAINER,
    );
    let files = 0;
    for await (const blob of container.listBlobsFlat()) {
      const target = join(OUTPUT, ...blob.name.split("/"));
      if (!target.startsWith(OUTPUT)) continue; // never write outside the output folder
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, await container.getBlobClient(blob.name).downloadToBuffer());
      files++;
    }
    console.log(`${files} files written`);

    step("Summary");
    const header = ["profile", "run id", "rows", "file", "bytes", "sha256"];
    const rows = [header];
    for (const m of summaries)
      for (const f of m.files)
        rows.push([
          m.profile,
          m.runId,
          String(m.rowCount),
          `${m.profile}/latest/${f.path.split("/").pop() ?? ""}`,
          String(f.bytes),
          `${f.sha256.slice(0, 12)}…`,
        ]);
    const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
    for (const [i, r] of rows.entries()) {
      console.log(`| ${r.map((c, j) => c.padEnd(widths[j] ?? 0)).join(" | ")} |`);
      if (i === 0) console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
    }
    console.log(
      `\nOpen ${join("demo-output", "all-referrals", "latest", "referrals.csv")} in Excel, or query it:`,
    );
    console.log(
      `  duckdb -c "select status, count(*) from 'demo-output/all-referrals/latest/referrals.csv' group by 1"`,
    );
    return 0;
  } finally {
    await cloud.close();
    await azurite.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
