import type { PagingCheck } from "./checks.js";
import type { EquivalenceCheck } from "./equivalence.js";
import type { WorkerResult } from "./shared.js";

export type RunKind =
  | "fetch-floor"
  | "write-floor"
  | "upload-stream"
  | "export"
  | "export-second"
  | "export-parquet"
  | "naive"
  | "export-latency";

export interface Row {
  readonly size: number;
  readonly run: RunKind;
  /** Pages in flight; 0 where it does not apply. */
  readonly c: number;
  readonly latencyMs: number;
  /** The run with the median wall time. */
  readonly result: WorkerResult;
  readonly runs: readonly WorkerResult[];
}

/** One prefetch setting at the largest size: plain, and in latency mode. */
export interface PrefetchPoint {
  readonly c: number;
  readonly wallSeconds: number | undefined;
  readonly maxRssMb: number | undefined;
  readonly latencyWallSeconds: number | undefined;
  /** Latency-mode wall time over pages x latency / C. */
  readonly latencyRatio: number | undefined;
}

export interface PrefetchSummary {
  readonly size: number;
  readonly points: readonly PrefetchPoint[];
}

export interface Target {
  readonly size: number;
  readonly name: string;
  readonly c: number;
  readonly value: number;
  /** `value <= limit` (or `<` when `strict`) meets the target. */
  readonly limit: number;
  readonly strict?: boolean;
  readonly met: boolean;
  readonly note: string;
}

export interface Report {
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: {
    readonly cpus: number;
    readonly node: string;
    readonly platform: string;
    /** One-minute load average: other work on the machine shows here. */
    readonly loadAverage: { readonly before: number; readonly after: number };
  };
  readonly pageSize: number;
  readonly defaultC: number;
  readonly repeat: number;
  readonly latencyMs: number;
  readonly rows: readonly Row[];
  readonly targets: readonly Target[];
  readonly prefetch: PrefetchSummary;
  readonly cpuBudget: CpuBudget | null;
  readonly checks: readonly PagingCheck[];
  readonly equivalence: readonly EquivalenceCheck[];
}

const find = (rows: readonly Row[], size: number, run: RunKind, c?: number): Row | undefined =>
  rows.find((r) => r.size === size && r.run === run && (c === undefined || r.c === c));

const seconds = (r: WorkerResult): number => r.wallMs / 1000;

function naiveRss(rows: readonly Row[], size: number): string {
  const naive = find(rows, size, "naive");
  return naive ? `${naive.result.maxRssMb.toFixed(0)} MB` : "not run";
}

/** The benchmark's targets, from the measured rows; a target whose runs are missing is left out. */
export function computeTargets(rows: readonly Row[], sizes: readonly number[], defaultC: number): Target[] {
  const targets: Target[] = [];
  const big = Math.max(...sizes);
  const small = Math.min(...sizes);
  const target = (t: Omit<Target, "met">): void => {
    targets.push({ ...t, met: t.strict === true ? t.value < t.limit : t.value <= t.limit });
  };

  const exported = find(rows, big, "export", defaultC);
  const fetch = find(rows, big, "fetch-floor");
  const write = find(rows, big, "write-floor");
  const uploadStream = find(rows, big, "upload-stream");
  if (exported && fetch) {
    const wall = seconds(exported.result);
    // The same write path as the export's (the strict floor), then the SDK's uploadStream for reference.
    for (const [floor, label] of [
      [write, "write floor"],
      [uploadStream, "uploadStream floor"],
    ] as const) {
      if (!floor) continue;
      const max = Math.max(seconds(fetch.result), seconds(floor.result));
      const sum = seconds(fetch.result) + seconds(floor.result);
      target({
        size: big,
        name: `export wall / max(fetch floor, ${label})`,
        c: defaultC,
        value: wall / max,
        limit: 1.25,
        note: `${wall.toFixed(2)} s vs max(${seconds(fetch.result).toFixed(2)}, ${seconds(floor.result).toFixed(2)}) s`,
      });
      target({
        size: big,
        name: `export wall / (fetch floor + ${label})`,
        c: defaultC,
        value: wall / sum,
        limit: 1,
        strict: true,
        note: `${wall.toFixed(2)} s vs ${sum.toFixed(2)} s`,
      });
    }
  }

  const bigExport = find(rows, big, "export", defaultC);
  const smallExport = find(rows, small, "export", defaultC);
  if (bigExport && smallExport && big !== small) {
    target({
      size: big,
      name: `export peak RSS / peak RSS at ${small.toLocaleString("en-US")} rows`,
      c: defaultC,
      value: bigExport.result.maxRssMb / smallExport.result.maxRssMb,
      limit: 1.3,
      note: `${bigExport.result.maxRssMb.toFixed(0)} MB vs ${smallExport.result.maxRssMb.toFixed(0)} MB`,
    });
  }
  if (bigExport) {
    target({
      size: big,
      name: "export peak RSS (MB)",
      c: defaultC,
      value: bigExport.result.maxRssMb,
      limit: 256,
      strict: true,
      note: `naive: ${naiveRss(rows, big)}`,
    });
  }

  // The nightly run (a change feed against the previous snapshot) is what users run every day.
  const second = find(rows, big, "export-second", defaultC);
  if (second && bigExport) {
    const cpu = (r: WorkerResult): number => (r.cpuUserMs + r.cpuSystemMs) / 1000;
    target({
      size: big,
      name: "nightly run exporter CPU / first run exporter CPU",
      c: defaultC,
      value: cpu(second.result) / cpu(bigExport.result),
      limit: 1.5,
      note: `${cpu(second.result).toFixed(2)} s vs ${cpu(bigExport.result).toFixed(2)} s`,
    });
    target({
      size: big,
      name: "nightly run peak RSS (MB)",
      c: defaultC,
      value: second.result.maxRssMb,
      limit: 256,
      strict: true,
      note: `first run: ${bigExport.result.maxRssMb.toFixed(0)} MB`,
    });
  }

  // Parquet is encoded on a worker thread with a heap of its own: the whole process stays bounded.
  const parquet = find(rows, big, "export-parquet", defaultC);
  if (parquet) {
    target({
      size: big,
      name: "Parquet export peak RSS (MB)",
      c: defaultC,
      value: parquet.result.maxRssMb,
      limit: 256,
      strict: true,
      note: `${(parquet.result.files.reduce((sum, f) => sum + f.bytes, 0) / 1e6).toFixed(0)} MB of Parquet`,
    });
  }

  for (const row of rows.filter((r) => r.run === "export-latency" && r.c === defaultC)) {
    const ideal = (row.result.pages * row.latencyMs) / 1000 / row.c;
    target({
      size: row.size,
      name: `latency mode: wall / (pages x ${row.latencyMs} ms / C)`,
      c: row.c,
      value: seconds(row.result) / ideal,
      limit: 1.25,
      note: `${seconds(row.result).toFixed(2)} s vs ${ideal.toFixed(2)} s`,
    });
  }
  return targets;
}

const RUN_LABELS: Record<RunKind, string> = {
  "fetch-floor": "fetch floor (page + JSON.parse only)",
  "write-floor": "write floor (as many bytes, the export's block writer)",
  "upload-stream": "as many bytes through the SDK's uploadStream (reference)",
  export: "export (CSV + JSON)",
  "export-second": "export, second run (change feed against the first)",
  "export-parquet": "export to Parquet only",
  naive: "naive (fetch all, stringify, upload)",
  "export-latency": "export, latency mode",
};

const fmt = (n: number, digits = 2): string => n.toFixed(digits);

const cpuText = (ms: number | undefined): string => (ms === undefined ? "–" : fmt(ms / 1000));

function othersCpu(r: WorkerResult): string {
  if (r.simulatorCpuMs === undefined && r.storageCpuMs === undefined) return "–";
  return `${cpuText(r.simulatorCpuMs)} / ${cpuText(r.storageCpuMs)}`;
}

export interface CpuBudget {
  readonly size: number;
  readonly c: number;
  readonly cores: number;
  readonly exporterSeconds: number;
  readonly simulatorSeconds: number;
  readonly storageSeconds: number;
  /** All three processes' CPU over the cores: no schedule on this machine finishes sooner. */
  readonly lowerBoundSeconds: number;
  readonly wallSeconds: number;
}

/**
 * What the export at the largest size cost the whole machine: the exporter, the simulator and
 * Azurite share its cores, so their CPU together over the cores bounds the wall time from below.
 */
export function cpuBudget(
  rows: readonly Row[],
  size: number,
  c: number,
  cores: number,
): CpuBudget | undefined {
  const row = find(rows, size, "export", c);
  if (!row || row.result.simulatorCpuMs === undefined || row.result.storageCpuMs === undefined)
    return undefined;
  const r = row.result;
  const exporterSeconds = (r.cpuUserMs + r.cpuSystemMs) / 1000;
  const simulatorSeconds = row.result.simulatorCpuMs / 1000;
  const storageSeconds = row.result.storageCpuMs / 1000;
  return {
    size,
    c,
    cores,
    exporterSeconds,
    simulatorSeconds,
    storageSeconds,
    lowerBoundSeconds: (exporterSeconds + simulatorSeconds + storageSeconds) / cores,
    wallSeconds: seconds(r),
  };
}

export function renderCpuBudget(b: CpuBudget): string {
  const total = b.exporterSeconds + b.simulatorSeconds + b.storageSeconds;
  return (
    `CPU of the ${b.size.toLocaleString("en-US")}-row export at C=${b.c}: exporter ${fmt(b.exporterSeconds)} s + ` +
    `Azurite ${fmt(b.storageSeconds)} s + simulator ${fmt(b.simulatorSeconds)} s = ${fmt(total)} s on ${b.cores} cores, ` +
    `so no schedule on this machine finishes in under ${fmt(b.lowerBoundSeconds)} s; the export took ${fmt(b.wallSeconds)} s ` +
    `(${fmt(b.wallSeconds / b.lowerBoundSeconds)} x that bound).`
  );
}

/** One Markdown table: every measured run, then the targets with their ratios. */
export function renderTable(report: Report): string {
  const lines = [
    "| Rows | Run | C | Latency (ms) | Wall (s) | CPU user+sys (s) | Simulator / Azurite CPU (s) | Peak RSS (MB) | Output (MB) | Ratio | Target |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const row of report.rows) {
    const r = row.result;
    const output = r.files.reduce((sum, f) => sum + f.bytes, 0) / 1e6;
    const walls = row.runs.map((x) => x.wallMs / 1000);
    const wall =
      row.runs.length > 1
        ? `${fmt(r.wallMs / 1000)} (${fmt(Math.min(...walls))}–${fmt(Math.max(...walls))}, n=${row.runs.length})`
        : fmt(r.wallMs / 1000);
    lines.push(
      `| ${row.size.toLocaleString("en-US")} | ${RUN_LABELS[row.run]} | ${row.c || "–"} | ${row.latencyMs} | ` +
        `${wall} | ${fmt((r.cpuUserMs + r.cpuSystemMs) / 1000)} | ${othersCpu(r)} | ${fmt(r.maxRssMb, 0)} | ` +
        `${output > 0 ? fmt(output, 0) : "–"} | | |`,
    );
  }
  for (const t of report.targets) {
    lines.push(
      `| ${t.size.toLocaleString("en-US")} | **${t.name}** (${t.note}) | ${t.c} | | | | | | | ` +
        `**${fmt(t.value)}** | ${t.strict === true ? "<" : "≤"} ${t.limit}: ${t.met ? "met" : "NOT met"} |`,
    );
  }
  return lines.join("\n");
}

/** Wall time, memory and latency-mode ratio per C at the largest size. */
export function summarisePrefetch(rows: readonly Row[], size: number): PrefetchSummary {
  const cs = [
    ...new Set(rows.filter((r) => r.run === "export" || r.run === "export-latency").map((r) => r.c)),
  ].sort((a, b) => a - b);
  const points = cs.map((c): PrefetchPoint => {
    const plain = rows.find((r) => r.run === "export" && r.size === size && r.c === c);
    const latency = rows.find((r) => r.run === "export-latency" && r.c === c);
    const ideal = latency ? (latency.result.pages * latency.latencyMs) / 1000 / c : undefined;
    return {
      c,
      wallSeconds: plain ? seconds(plain.result) : undefined,
      maxRssMb: plain?.result.maxRssMb,
      latencyWallSeconds: latency ? seconds(latency.result) : undefined,
      latencyRatio: latency && ideal ? seconds(latency.result) / ideal : undefined,
    };
  });
  return { size, points };
}

export function renderPrefetch(summary: PrefetchSummary): string {
  const lines = summary.points.map(
    (p) =>
      `- C=${p.c}: ${p.wallSeconds !== undefined ? `${fmt(p.wallSeconds)} s, ${fmt(p.maxRssMb ?? 0, 0)} MB` : "not run"}` +
      (p.latencyWallSeconds !== undefined
        ? `; latency mode ${fmt(p.latencyWallSeconds)} s = ${fmt(p.latencyRatio ?? 0)} x pages x latency / C`
        : ""),
  );
  return [
    `Prefetch at ${summary.size.toLocaleString("en-US")} rows (plain wall, peak RSS; latency mode):`,
    ...lines,
  ].join("\n");
}

export function renderChecks(checks: readonly (PagingCheck | EquivalenceCheck)[]): string {
  return checks.map((c) => `- ${c.passed ? "PASS" : "FAIL"} ${c.name}: ${c.detail}`).join("\n");
}
