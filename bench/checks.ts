import type { SimulatorProcess } from "./processes.js";
import type { ArrivalRecord, SimulatorSpec, WorkerMode, WorkerResult } from "./shared.js";

/** The outcome of one paging rule checked against the simulator. */
export interface PagingCheck {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

const CHECK_ROWS = 60_000;
const CHECK_C = 4;

export interface CheckContext {
  withSimulator<T>(
    spec: Omit<SimulatorSpec, "tlsDir">,
    work: (sim: SimulatorProcess) => Promise<T>,
  ): Promise<T>;
  measure(mode: WorkerMode, sim: SimulatorProcess, concurrency: number): Promise<WorkerResult>;
}

const maxInFlight = (arrivals: readonly ArrivalRecord[]): number =>
  Math.max(0, ...arrivals.map((a) => a.inFlight));
const inOrder = (order: readonly number[] | undefined): boolean =>
  (order ?? []).every((index, i) => index === i);

/**
 * Small runs that show the prefetch rules: it fans out when the total is known, drops to one page at
 * a time after a 429, and stays sequential without a total or with @nextLink. Rows always come out in order.
 */
export async function checkPaging(ctx: CheckContext): Promise<PagingCheck[]> {
  const checks: PagingCheck[] = [];
  const pages = CHECK_ROWS / 10_000;

  // 429 on the third request (the second page of the first prefetch window), Retry-After 1 s.
  await ctx.withSimulator({ size: CHECK_ROWS, latencyMs: 50, faults: "429:1@3" }, async (sim) => {
    const result = await ctx.measure("paging", sim, CHECK_C);
    const arrivals = await sim.arrivals();
    const throttledAt = arrivals.find((a) => a.status === 429);
    // The throttled request is retried after Retry-After (1 s): compare what arrives before and after.
    const cut = (throttledAt?.at ?? Infinity) + 500;
    const before = arrivals.filter((a) => a.at < cut);
    const after = arrivals.filter((a) => a.at >= cut);
    const passed =
      throttledAt !== undefined &&
      result.throttled === 1 &&
      result.concurrencyAtEnd === 1 &&
      result.rows === CHECK_ROWS &&
      inOrder(result.pageOrder) &&
      maxInFlight(before) > 1 &&
      after.length > 0 &&
      maxInFlight(after) === 1;
    checks.push({
      name: `429 on request 3 (fault 429:1@3), C=${CHECK_C}: fans out, then drops to 1`,
      passed,
      detail:
        `${result.rows} rows in ${result.pages} pages, emitted in order: ${inOrder(result.pageOrder)}; ` +
        `throttled ${result.throttled}, retries ${result.retries}; in flight before the 429: ${maxInFlight(before)}, ` +
        `after the retry: ${maxInFlight(after)} (${after.length} requests); client concurrency at end: ${result.concurrencyAtEnd ?? "?"}`,
    });
  });

  // The same fault through the whole export: complete files, the manifest counts the 429.
  await ctx.withSimulator({ size: CHECK_ROWS, latencyMs: 0, faults: "429:1@3" }, async (sim) => {
    const result = await ctx.measure("export", sim, CHECK_C);
    checks.push({
      name: `export under 429:1@3, C=${CHECK_C}: completes`,
      passed: result.rows === CHECK_ROWS && result.throttled === 1,
      detail: `${result.rows} rows, ${result.pages} pages, manifest throttled ${result.throttled}, retries ${result.retries}`,
    });
  });

  const sequential = async (
    name: string,
    spec: Omit<SimulatorSpec, "tlsDir" | "size" | "latencyMs">,
  ): Promise<void> => {
    await ctx.withSimulator({ size: CHECK_ROWS, latencyMs: 20, ...spec }, async (sim) => {
      const result = await ctx.measure("paging", sim, CHECK_C);
      const arrivals = await sim.arrivals();
      checks.push({
        name,
        passed: result.rows === CHECK_ROWS && inOrder(result.pageOrder) && maxInFlight(arrivals) === 1,
        detail: `${result.rows} rows in ${result.pages} pages (${pages} full), most requests in flight: ${maxInFlight(arrivals)}`,
      });
    });
  };
  await sequential(`no TotalCount (bare array), C=${CHECK_C}: sequential`, { envelope: "bare" });
  await sequential(`@nextLink present, C=${CHECK_C}: sequential`, { nextLinkMode: "relative" });
  return checks;
}
