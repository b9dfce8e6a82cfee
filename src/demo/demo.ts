import { spawn } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BlobServiceClient } from "@azure/storage-blob";
import { changeFeedSummary, type Manifest } from "../export/manifest.js";
import { requireDataset } from "../partnerCenter/datasets/index.js";
import type { LocalCloud } from "../simulator/localCloud.js";
import { startAzurite } from "../simulator/azurite.js";
import { startLocalCloud } from "../simulator/localCloud.js";

/**
 * `npm run demo`: Azurite + the simulator, a one-time consent through the device-code flow,
 * then raw and grouped exports of referrals and of the other analytics datasets (CSV, JSON and
 * Parquet), a day's worth of changes to the simulated referrals and license usage, and their raw
 * exports again, whose change feeds show them. Each export runs
 * in its own `referrals-export` process exactly as an admin would run it (MSAL, Key Vault and
 * Storage code paths included). The blobs are copied to ./demo-output/ with the same paths as in
 * the container.
 */
const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "cli", "main.js");
const OUTPUT = resolve("demo-output");
const CONTAINER = "referrals";
const PROFILES = [
  { name: "all-referrals", formats: ["csv", "json", "parquet"] },
  {
    name: "won-by-market-month",
    filter: "status eq 'Won'",
    groupby: ["customerMarket", "wonDate"],
    aggregationLevel: "month",
    formats: ["csv", "json", "parquet"],
  },
  // The rest of the analytics family, in the same storage account, with the same guarantees.
  { name: "all-subscriptions", dataset: "subscriptions", formats: ["csv", "json", "parquet"] },
  {
    name: "azure-usage-by-meter-month",
    dataset: "azureUsage",
    groupby: ["meterCategory", "usageDate"],
    aggregationLevel: "month",
    formats: ["csv", "json", "parquet"],
  },
  { name: "license-usage", dataset: "licensesUsage", formats: ["csv", "json", "parquet"] },
];
const RAW_PROFILE = "all-referrals";
const LICENSE_PROFILE = "license-usage";

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

/** Changes the simulated referrals the way a day in Partner Center might, and says what changed. */
function changeReferrals(cloud: LocalCloud): string {
  const { dataset } = cloud;
  let accepted: string | undefined;
  for (let i = 0; i < dataset.size && accepted === undefined; i++)
    if (dataset.get(i).status === "Accepted") accepted = dataset.get(i).id;
  if (accepted === undefined) throw new Error("the simulated data set has no Accepted referral");
  const now = new Date().toISOString().slice(0, 19);
  dataset.update(accepted, { status: "Won", wonDate: now });
  const gone = dataset.get(1).id;
  dataset.remove(gone);
  const added = "0000000001";
  dataset.add({
    ...dataset.get(2),
    id: added,
    status: "New",
    customerName: "Contoso Demo Ltd",
    acceptedDate: null,
    acknowledgedDate: null,
    archivedDate: null,
    declinedDate: null,
    expiredDate: null,
    lostDate: null,
    missedDate: null,
    createdDate: now,
    skippedDate: null,
    wonDate: null,
  });
  return `added ${added}, ${accepted} Accepted -> Won, removed ${gone}`;
}

/**
 * Changes the simulated license usage the way a day might: a customer's active seats of one
 * workload grow, a customer starts using a product, another stops. Says what changed.
 */
function changeLicenseUsage(cloud: LocalCloud): string {
  const table = cloud.mutable("licensesUsage");
  const keyFields = requireDataset("licensesUsage").key ?? [];
  const key = (row: Readonly<Record<string, unknown>>): string[] => keyFields.map((f) => String(row[f]));
  // A row that names its measure as documented (some carry the example's `licenseActive` spelling).
  let grown: Readonly<Record<string, unknown>> | undefined;
  for (let i = 0; i < table.size && grown === undefined; i++)
    if (typeof table.get(i).licensesActive === "number") grown = table.get(i);
  if (grown === undefined) throw new Error("the simulated license usage has no licensesActive row");
  const active = (grown.licensesActive as number) + 25;
  table.update(key(grown), {
    licensesActive: active,
    licensesQualified: Math.max(active, Number(grown.licensesQualified)),
  });
  const gone = table.get(1);
  table.remove(key(gone));
  const template = table.get(2);
  table.add({
    ...template,
    customerTenantId: "00000000-0000-4000-8000-0000000d3e01",
    customerName: "Contoso Demo Ltd",
  });
  return `${String(grown.customerName)}: ${String(grown.workloadName)} active seats -> ${active}; Contoso Demo Ltd starts on ${String(template.productName)}; ${String(gone.customerName)} stops ${String(gone.workloadName)}`;
}

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

/** A raw run's change feed in one line; a raw run of a keyed dataset always has one. */
function printFeed(manifest: Manifest): void {
  if (!manifest.changes) throw new Error(`the export of ${manifest.profile} has no change feed`);
  console.log(changeFeedSummary(manifest));
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
    const exportProfile = async (name: string): Promise<Manifest> => {
      step(`referrals-export export --profile ${name}`);
      const result = await run(["export", "--profile", name, "--json"], env);
      if (result.code !== 0)
        throw new Error(`export of ${name} failed (exit ${result.code}):\n${result.err}`);
      const manifest = JSON.parse(result.out) as Manifest;
      summaries.push(manifest);
      console.log(
        `run ${manifest.runId}: ${manifest.rowCount.toLocaleString("en-US")} rows in ${manifest.pages} page(s), ${manifest.files.map((f) => f.format).join(", ")}`,
      );
      return manifest;
    };
    for (const profile of PROFILES) await exportProfile(profile.name);

    step("A day in Partner Center: one new referral, one Accepted referral won, one referral gone");
    console.log(changeReferrals(cloud));
    const second = await exportProfile(RAW_PROFILE);
    printFeed(second);

    step("The same day in license usage: seats grow, a customer starts, another stops");
    console.log(changeLicenseUsage(cloud));
    printFeed(await exportProfile(LICENSE_PROFILE));

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
    const header = ["profile", "dataset", "run id", "rows", "file", "bytes", "sha256"];
    const rows = [header];
    for (const m of summaries)
      for (const f of [...m.files, ...(m.changes?.files ?? [])])
        rows.push([
          m.profile,
          m.dataset,
          m.runId,
          String(f.rowCount),
          f.path.split("/").pop() ?? "",
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
      `  duckdb -c "select status, count(*) from 'demo-output/all-referrals/latest/referrals.parquet' group by 1"`,
    );
    console.log(
      `  duckdb -c "select change, id, changedFields, previousStatus, status from 'demo-output/all-referrals/latest/changes.csv'"`,
    );
    console.log(
      `  duckdb -c "select change, coalesce(customerName, previousCustomerName) as customer, workloadName, previousWorkloadName, changedFields, previousLicensesActive, licensesActive from 'demo-output/license-usage/latest/changes.json'"`,
    );
    console.log(
      `  duckdb -c "select subscriptionType, count(*), sum(licenseCount) from 'demo-output/all-subscriptions/latest/subscriptions.parquet' group by 1"`,
    );
    console.log("The latest/ folder of each profile holds its newest run; docs/consumers.md shows more.");
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
