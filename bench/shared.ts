import type { TokenCredential } from "@azure/core-auth";
import type { ExportFormat } from "../src/export/layout.js";
import type { EnvelopeStyle, NextLinkMode } from "../src/simulator/partnerCenterRoute.js";
import type { TokenVerifier } from "../src/simulator/types.js";

/**
 * Loopback-only bearer token shared by the benchmark's simulator and its workers. The export core is
 * measured here, not consent: a fixed token stands in for the delegated one.
 */
export const BENCH_TOKEN = "bench-access-token-9d41";

export const benchCredential: TokenCredential = {
  getToken: () => Promise.resolve({ token: BENCH_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }),
};

export const benchVerifier: TokenVerifier = {
  verify: (h) => (h === undefined ? "missing" : h === `Bearer ${BENCH_TOKEN}` ? "ok" : "invalid"),
};

/** Every run pages over the same rows: fixed seed, fixed end date. */
export const DATASET_SEED = 20261124;
export const DATASET_END = "2026-11-01T00:00:00Z";
export const PAGE_SIZE = 10_000;

export interface SimulatorSpec {
  readonly size: number;
  readonly latencyMs: number;
  readonly faults?: string;
  readonly envelope?: EnvelopeStyle;
  readonly nextLinkMode?: NextLinkMode;
  /** Build every page body once at start-up and serve it from memory (Partner Center's CPU is not ours). */
  readonly prerender?: boolean;
  /** Where the simulator keeps its CA and certificate. */
  readonly tlsDir: string;
}

/** One referrals request as the simulator saw it. */
export interface ArrivalRecord {
  readonly seq: number;
  /** Referrals requests being served at arrival, this one included. */
  readonly inFlight: number;
  readonly status: number;
  readonly at: number;
}

export type SimulatorMessage =
  | { readonly type: "ready"; readonly url: string; readonly caFile: string }
  | { readonly type: "arrivals"; readonly arrivals: ArrivalRecord[] };

export type ParentToSimulator = { readonly type: "arrivals"; readonly reset: boolean };

export type WorkerMode = "export" | "fetch-floor" | "write-floor" | "upload-stream" | "naive" | "paging";

export interface WorkerTask {
  readonly mode: WorkerMode;
  readonly simulatorUrl: string;
  readonly caFile: string;
  readonly connectionString: string;
  readonly container: string;
  readonly pageSize: number;
  /** Pages in flight (EXPORT_PREFETCH_PAGES for the export, the same window for the floors). */
  readonly concurrency: number;
  /** export only: the formats written (CSV + JSON unless set). */
  readonly formats?: readonly ExportFormat[];
  /** write-floor only: bytes of each file to upload. */
  readonly files?: readonly { readonly format: string; readonly bytes: number }[];
}

export interface WorkerResult {
  readonly mode: WorkerMode;
  readonly ok: boolean;
  readonly error?: string;
  readonly wallMs: number;
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  /** Peak resident set of the worker process over its whole life (process.resourceUsage().maxRSS). */
  readonly maxRssMb: number;
  readonly rows: number;
  readonly pages: number;
  readonly files: readonly { readonly format: string; readonly bytes: number }[];
  readonly throttled: number;
  readonly retries: number;
  /** Set by the parent: CPU the simulator and Azurite used while this worker ran (Linux only). */
  readonly simulatorCpuMs?: number;
  readonly storageCpuMs?: number;
  /** paging only: the client's concurrency when it finished. */
  readonly concurrencyAtEnd?: number;
  /** paging only: page indexes in the order the client emitted them. */
  readonly pageOrder?: readonly number[];
}
