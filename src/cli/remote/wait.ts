import { setTimeout as sleep } from "node:timers/promises";
import { ApiError, RemoteError, type ApiClient, type RunView } from "./apiClient.js";

/** Seconds between polls when an answer names none (what the API asks for while a run is unfinished). */
export const DEFAULT_POLL_SECONDS = 5;
/** Failed polls in a row (network, 429, 502-504) tolerated before waiting stops with the last error. */
const MAX_FAILED_POLLS = 10;

export type WaitOutcome =
  | { readonly kind: "finished"; readonly run: RunView }
  | { readonly kind: "timedOut"; readonly run: RunView | undefined };

export interface WaitOptions {
  /** Give up this long after waiting started. */
  readonly timeoutMs: number;
  /** Seconds before the first poll: the Retry-After of the answer that started the run. */
  readonly firstPollSeconds: number | undefined;
  /** Called with every view that differs from the previous one in what a person follows. */
  readonly onChange: (run: RunView, elapsedMs: number) => void;
  /** Called when a poll failed but waiting goes on. */
  readonly onRetry: (reason: string, retryInSeconds: number) => void;
}

export function isFinished(run: RunView): boolean {
  return run.status === "succeeded" || run.status === "failed";
}

/**
 * Polls a run until it succeeded or failed, honouring each answer's Retry-After, and gives up at
 * the timeout (the run goes on in Azure). A poll that fails for a passing reason (no answer, 429,
 * 502-504) is repeated after its Retry-After, a bounded number of times in a row; any other failure
 * ends the wait with that error.
 */
export async function waitForRun(
  client: ApiClient,
  runId: string,
  options: WaitOptions,
): Promise<WaitOutcome> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let delaySeconds = options.firstPollSeconds ?? DEFAULT_POLL_SECONDS;
  let last: RunView | undefined;
  let lastKey: string | undefined;
  let failedPolls = 0;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { kind: "timedOut", run: last };
    await sleep(Math.min(delaySeconds * 1000, remaining));
    try {
      const answer = await client.getRun(runId);
      failedPolls = 0;
      last = answer.value;
      const key = progressKey(last);
      if (key !== lastKey) options.onChange(last, Date.now() - started);
      lastKey = key;
      if (isFinished(last)) return { kind: "finished", run: last };
      delaySeconds = answer.retryAfterSeconds ?? DEFAULT_POLL_SECONDS;
    } catch (error) {
      const passing =
        (error instanceof RemoteError && error.transient) ||
        (error instanceof ApiError && [429, 502, 503, 504].includes(error.status));
      if (!passing || ++failedPolls > MAX_FAILED_POLLS) throw error;
      delaySeconds =
        (error instanceof ApiError ? error.retryAfterSeconds : undefined) ?? DEFAULT_POLL_SECONDS;
      options.onRetry(error instanceof Error ? error.message : String(error), delaySeconds);
    }
  }
}

/** What a person following the run notices: its status, rows, attempts and a failed attempt. */
function progressKey(run: RunView): string {
  return JSON.stringify([
    run.status,
    run.rowCount ?? null,
    run.attempts ?? null,
    run.lastError?.message ?? null,
  ]);
}
