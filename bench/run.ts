/**
 * `npm run bench`: measures the export against its floors and a naive baseline, sweeps the page
 * prefetch, runs the latency mode and checks the paging rules. The simulator, Azurite and every
 * measured task run in processes of their own. Prints one Markdown table and writes the same
 * numbers as JSON to bench/results/. See bench/README.md.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadSettings } from "../src/config/settings.js";
import type { ExportFormat } from "../src/export/layout.js";
import { startAzurite } from "../src/simulator/azurite.js";
import { checkPaging, type PagingCheck } from "./checks.js";
import { checkEquivalence } from "./equivalence.js";
import {
  killAllChildren,
  processCpuMs,
  runWorker,
  startSimulator,
  type SimulatorProcess,
} from "./processes.js";
import {
  computeTargets,
  renderChecks,
  cpuBudget,
  renderCpuBudget,
  renderPrefetch,
  renderTable,
  summarisePrefetch,
  type Report,
  type Row,
  type RunKind,
} from "./report.js";
import { PAGE_SIZE, type WorkerMode, type WorkerResult } from "./shared.js";

/** Hard stop: the whole benchmark normally takes 5-7 minutes on 2 cores. */
const TOTAL_LIMIT_MS = 14 * 60_000;
const WORKER_LIMIT_MS = 4 * 60_000;
const LATENCY_MS = 300;

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "100000,1000000" },
    sweep: { type: "string", default: "1,2,4,8" },
    repeat: { type: "string", default: "3" },
    "latency-rows": { type: "string", default: "1000000" },
    prefetch: { type: "string" },
    "no-latency": { type: "boolean", default: false },
    "no-naive": { type: "boolean", default: false },
    "no-checks": { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
    out: { type: "string", default: "bench/results" },
  },
  strict: true,
});

const numbers = (text: string): number[] =>
  text
    .split(",")
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);

const sizes = numbers(args.sizes);
const sweep = numbers(args.sweep);
const repeat = Math.max(1, Math.min(9, Number(args.repeat) || 1));
const latencyRows = Number(args["latency-rows"]);
const tlsDir = join(tmpdir(), "referrals-export-bench-tls");
/** The product's default EXPORT_PREFETCH_PAGES, read from settings rather than assumed (or --prefetch). */
const defaultC =
  args.prefetch !== undefined
    ? Number(args.prefetch)
    : loadSettings({
        LOCAL_MODE: "true",
        PARTNER_CENTER_BASE_URL: "https://127.0.0.1:1",
        EXPORT_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true",
      }).prefetchPages;

let containerCounter = 0;

/** Runs a task once; storage tasks get a fresh Azurite (its own process), so no run pays for an earlier one's blobs. */
async function measureOnce(
  mode: WorkerMode,
  sim: SimulatorProcess,
  concurrency: number,
  extra: {
    files?: WorkerResult["files"];
    execArgv?: string[];
    afterAnExport?: boolean;
    formats?: readonly ExportFormat[];
  } = {},
): Promise<WorkerResult> {
  const needsStorage = mode !== "fetch-floor" && mode !== "paging";
  const azurite = needsStorage ? await startAzurite() : undefined;
  try {
    const task = {
      mode,
      simulatorUrl: sim.url,
      caFile: sim.caFile,
      connectionString: azurite?.connectionString ?? "",
      container: `bench-${++containerCounter}`,
      pageSize: PAGE_SIZE,
      concurrency,
      ...(extra.files ? { files: extra.files } : {}),
      ...(extra.formats ? { formats: extra.formats } : {}),
    };
    // A nightly run: the same profile has a snapshot already (written by a worker of its own, so
    // that its memory is not the measured one's), and the export builds a change feed against it.
    if (extra.afterAnExport) {
      const first = await runWorker({ ...task, mode: "export" }, { timeoutMs: WORKER_LIMIT_MS });
      if (!first.ok) throw new Error(`the first export failed: ${first.error ?? "?"}`);
    }
    const simBefore = processCpuMs(sim.pid);
    const storageBefore = processCpuMs(azurite?.pid);
    const measured = await runWorker(task, {
      timeoutMs: WORKER_LIMIT_MS,
      ...(extra.execArgv ? { execArgv: extra.execArgv } : {}),
    });
    const used = (before: number | undefined, after: number | undefined): number | undefined =>
      before === undefined || after === undefined ? undefined : after - before;
    const simulatorCpuMs = used(simBefore, processCpuMs(sim.pid));
    const storageCpuMs = used(storageBefore, processCpuMs(azurite?.pid));
    const result: WorkerResult = {
      ...measured,
      ...(simulatorCpuMs !== undefined ? { simulatorCpuMs } : {}),
      ...(storageCpuMs !== undefined ? { storageCpuMs } : {}),
    };
    if (!result.ok) throw new Error(`${mode} (C=${concurrency}) failed: ${result.error ?? "?"}`);
    const mb = (result.files.reduce((sum, f) => sum + f.bytes, 0) / 1e6).toFixed(0);
    console.error(
      `  ${mode.padEnd(11)} C=${concurrency}  ${(result.wallMs / 1000).toFixed(2)} s  cpu ${((result.cpuUserMs + result.cpuSystemMs) / 1000).toFixed(2)} s  ` +
        `rss ${result.maxRssMb.toFixed(0)} MB  ${result.rows} rows  ${mb} MB`,
    );
    return result;
  } finally {
    await azurite?.stop();
  }
}

/** The run with the median wall time stands for the row; all runs go to the JSON. */
function median(runs: readonly WorkerResult[]): WorkerResult {
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)];
  if (!mid) throw new Error("no run to take the median of");
  return mid;
}

async function withSimulator<T>(
  spec: Omit<Parameters<typeof startSimulator>[0], "tlsDir">,
  work: (sim: SimulatorProcess) => Promise<T>,
): Promise<T> {
  const sim = await startSimulator({ ...spec, tlsDir });
  try {
    return await work(sim);
  } finally {
    await sim.stop();
  }
}

async function main(): Promise<Report> {
  const started = Date.now();
  const loadBefore = loadavg()[0] ?? 0;
  const rows: Row[] = [];
  const big = Math.max(...sizes);
  const profileDir = join(args.out, "profiles");
  if (args["cpu-prof"]) await mkdir(profileDir, { recursive: true });
  console.error("equivalence of the fast paths");
  const equivalence = await checkEquivalence();
  for (const check of equivalence) console.error(`  ${check.passed ? "same" : "DIFFERENT"}: ${check.name}`);
  const add = (size: number, run: RunKind, c: number, latencyMs: number, runs: WorkerResult[]): void => {
    rows.push({ size, run, c, latencyMs, result: median(runs), runs });
  };

  for (const size of sizes) {
    console.error(`${size.toLocaleString("en-US")} referrals, page size ${PAGE_SIZE}, default C=${defaultC}`);
    await withSimulator({ size, latencyMs: 0, prerender: true }, async (sim) => {
      // The floors and the export at the default C, interleaved so that drift on a shared
      // machine hits them alike; then the rest of the sweep and the naive baseline.
      const fetches: WorkerResult[] = [];
      const exports: WorkerResult[] = [];
      const writes: WorkerResult[] = [];
      for (let r = 0; r < repeat; r++) {
        fetches.push(await measureOnce("fetch-floor", sim, defaultC));
        const profile = args["cpu-prof"] && size === big && r === 0;
        const exported = await measureOnce("export", sim, defaultC, {
          ...(profile ? { execArgv: ["--cpu-prof", "--cpu-prof-dir", profileDir] } : {}),
        });
        exports.push(exported);
        writes.push(await measureOnce("write-floor", sim, 1, { files: exported.files }));
      }
      add(size, "fetch-floor", defaultC, 0, fetches);
      add(size, "write-floor", 0, 0, writes);
      const files = median(exports).files;
      add(size, "upload-stream", 0, 0, [await measureOnce("upload-stream", sim, 1, { files })]);
      if (size === big) {
        for (const c of sweep) {
          if (c === defaultC) add(size, "export", c, 0, exports);
          else add(size, "export", c, 0, [await measureOnce("export", sim, c)]);
        }
        if (!sweep.includes(defaultC)) add(size, "export", defaultC, 0, exports);
      } else {
        add(size, "export", defaultC, 0, exports);
      }
      if (size === big) {
        add(size, "export-second", defaultC, 0, [
          await measureOnce("export", sim, defaultC, { afterAnExport: true }),
        ]);
        add(size, "export-parquet", defaultC, 0, [
          await measureOnce("export", sim, defaultC, { formats: ["parquet"] }),
        ]);
      }
      if (!args["no-naive"]) add(size, "naive", defaultC, 0, [await measureOnce("naive", sim, defaultC)]);
    });
  }

  if (!args["no-latency"]) {
    console.error(`latency mode: ${latencyRows.toLocaleString("en-US")} referrals, ${LATENCY_MS} ms a page`);
    await withSimulator({ size: latencyRows, latencyMs: LATENCY_MS, prerender: true }, async (sim) => {
      // The default C is the target's: its median of `repeat` runs, like the floors'.
      for (const c of [...new Set([...sweep, defaultC])].sort((a, b) => a - b)) {
        const runs: WorkerResult[] = [];
        for (let r = 0; r < (c === defaultC ? repeat : 1); r++)
          runs.push(await measureOnce("export", sim, c));
        add(latencyRows, "export-latency", c, LATENCY_MS, runs);
      }
    });
  }

  let checks: PagingCheck[] = [];
  if (!args["no-checks"]) {
    console.error("paging checks");
    checks = await checkPaging({ withSimulator, measure: (mode, sim, c) => measureOnce(mode, sim, c) });
  }

  return {
    startedAt: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: {
      cpus: availableParallelism(),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
    },
    pageSize: PAGE_SIZE,
    defaultC,
    repeat,
    latencyMs: LATENCY_MS,
    rows,
    targets: computeTargets(rows, sizes, defaultC),
    prefetch: summarisePrefetch(rows, big),
    cpuBudget: cpuBudget(rows, big, defaultC, availableParallelism()) ?? null,
    checks,
    equivalence,
  };
}

const watchdog = setTimeout(() => {
  console.error(`the benchmark ran past ${TOTAL_LIMIT_MS / 60_000} minutes; stopping`);
  killAllChildren();
  process.exit(2);
}, TOTAL_LIMIT_MS);
watchdog.unref();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

try {
  const report = await main();
  console.log(
    `\n## referrals-export benchmark (${report.machine.cpus} CPUs, Node ${report.machine.node}, page size ${PAGE_SIZE}, default C=${defaultC}, median of ${repeat} where marked; ` +
      `load average ${report.machine.loadAverage.before.toFixed(1)} before, ${report.machine.loadAverage.after.toFixed(1)} after)\n`,
  );
  console.log(renderTable(report));
  if (report.cpuBudget) console.log(`\n${renderCpuBudget(report.cpuBudget)}`);
  const checks = renderChecks(report.checks);
  if (checks) console.log(`\nPaging checks:\n${checks}`);
  console.log(`\nFast paths against the plain ones:\n${renderChecks(report.equivalence)}`);
  console.log(`\n${renderPrefetch(report.prefetch)}`);
  console.log(`Took ${report.durationSeconds} s.`);
  await mkdir(args.out, { recursive: true });
  const stamp = report.startedAt.replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
  const json = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(join(args.out, `bench-${stamp}.json`), json);
  await writeFile(join(args.out, "latest.json"), json);
  console.log(`Results: ${join(args.out, `bench-${stamp}.json`)}`);
  process.exitCode = [...report.checks, ...report.equivalence].some((c) => !c.passed) ? 1 : 0;
} catch (error) {
  console.error(error);
  killAllChildren();
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
}
