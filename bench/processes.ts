import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { EXPORTER_NODE_OPTIONS } from "../src/config/nodeOptions.js";
import type { ArrivalRecord, SimulatorMessage, SimulatorSpec, WorkerResult, WorkerTask } from "./shared.js";

const SIMULATOR_SCRIPT = fileURLToPath(new URL("./simulatorProcess.js", import.meta.url));
const WORKER_SCRIPT = fileURLToPath(new URL("./worker.js", import.meta.url));
const SIMULATOR_START_MS = 30_000;
const STOP_GRACE_MS = 5_000;

/** Every child still running, so an interrupted or timed-out benchmark leaves none behind. */
const live = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of live) child.kill("SIGKILL");
}

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * CPU time (user + system, ms) a process has used so far, from /proc on Linux; undefined elsewhere
 * or once it has gone. /proc counts in USER_HZ, which Linux fixes at 100 a second.
 */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at state, the third field.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime: fields 14 and 15
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

export interface SimulatorProcess {
  readonly url: string;
  readonly pid: number | undefined;
  readonly caFile: string;
  /** Referrals requests seen since the last reset, in arrival order. */
  arrivals(reset?: boolean): Promise<ArrivalRecord[]>;
  stop(): Promise<void>;
}

/** Starts the Partner Center simulator in its own process and waits until it listens. */
export async function startSimulator(spec: SimulatorSpec): Promise<SimulatorProcess> {
  const child = track(
    fork(SIMULATOR_SCRIPT, [JSON.stringify(spec)], { stdio: ["ignore", "inherit", "inherit", "ipc"] }),
  );
  const ready = await new Promise<{ url: string; caFile: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the simulator did not start within ${SIMULATOR_START_MS} ms`));
    }, SIMULATOR_START_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the simulator exited with code ${String(code)} before it was ready`));
    });
    child.once("message", (message: SimulatorMessage) => {
      clearTimeout(timer);
      if (message.type === "ready") resolve({ url: message.url, caFile: message.caFile });
      else reject(new Error("the simulator sent an unexpected first message"));
    });
  });
  return {
    ...ready,
    pid: child.pid,
    arrivals: (reset = true) =>
      new Promise<ArrivalRecord[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error("the simulator did not answer"));
        }, SIMULATOR_START_MS);
        child.once("message", (message: SimulatorMessage) => {
          clearTimeout(timer);
          if (message.type === "arrivals") resolve(message.arrivals);
          else reject(new Error("the simulator sent an unexpected message"));
        });
        child.send({ type: "arrivals", reset });
      }),
    stop: () => stopChild(child),
  };
}

export interface WorkerOptions {
  readonly timeoutMs: number;
  /** Extra node flags for the worker, e.g. `--cpu-prof`. */
  readonly execArgv?: readonly string[];
}

/** Runs one task in a fresh worker process and returns what it measured about itself. */
export async function runWorker(task: WorkerTask, options: WorkerOptions): Promise<WorkerResult> {
  const child = track(
    fork(WORKER_SCRIPT, [JSON.stringify(task)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // Every measured process runs with the product's V8 options, as the CLI and the Functions app do.
      execArgv: [...EXPORTER_NODE_OPTIONS.split(" "), ...(options.execArgv ?? [])],
    }),
  );
  return new Promise<WorkerResult>((resolve, reject) => {
    let result: WorkerResult | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${task.mode} did not finish within ${options.timeoutMs / 1000} s`));
    }, options.timeoutMs);
    child.on("message", (message: WorkerResult) => {
      result = message;
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (result) resolve(result);
      else reject(new Error(`${task.mode} worker exited (${signal ?? String(code)}) without a result`));
    });
  });
}
