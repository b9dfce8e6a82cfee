import type { PipelineResponse, RestError, RetryModifiers, RetryStrategy } from "@azure/core-rest-pipeline";
import { findCause, isAbortError } from "../common/errorChain.js";
import { isPartnerCenterError } from "./errors.js";

export interface RetryTuning {
  /** First backoff step; doubles per attempt, with full jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Epoch ms after which no retry starts: the run's overall deadline. */
  readonly deadline: number;
  /** Told about every throttled response, so the pager can slow down. */
  readonly onThrottled?: (retryAfterMs: number | undefined) => void;
  readonly onRetry?: (info: { attempt: number; status?: number; error?: string; delayMs: number }) => void;
  readonly now?: () => number;
  readonly random?: () => number;
}

const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** Seconds from `Retry-After` (seconds or HTTP date), or from Partner Center's "Try again in N seconds." body. */
export function retryAfterMs(response: PipelineResponse | undefined, now: number): number | undefined {
  if (!response) return undefined;
  const header = response.headers.get("retry-after");
  if (header !== undefined) {
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(header);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  const match = /try again in (\d{1,5}) seconds?/i.exec(response.bodyAsText ?? "");
  return match?.[1] !== undefined ? Number(match[1]) * 1000 : undefined;
}

/**
 * Decides retries for Partner Center calls inside core-rest-pipeline's retryPolicy:
 * 408/429/5xx and network failures (resets, timeouts, a cut-off body) are retried with
 * jittered exponential backoff, `Retry-After` is honoured, and nothing is retried past
 * the deadline — the last response or error is then handed back to the caller.
 */
export function partnerCenterRetryStrategy(tuning: RetryTuning): RetryStrategy {
  const now = tuning.now ?? Date.now;
  const random = tuning.random ?? Math.random;
  return {
    name: "partnerCenterRetry",
    retry({ retryCount, response, responseError }): RetryModifiers {
      const status = response?.status;
      const transientError = responseError !== undefined && isTransientError(responseError);
      const transientStatus =
        responseError === undefined && status !== undefined && TRANSIENT_STATUS.has(status);
      if (!transientError && !transientStatus) return { skipStrategy: true };

      const backoff = Math.min(tuning.maxDelayMs, tuning.baseDelayMs * 2 ** retryCount);
      const hinted = retryAfterMs(response, now());
      if (status === 429) tuning.onThrottled?.(hinted);
      // Full jitter spreads parallel workers; a server hint is a floor, not a suggestion.
      const delayMs =
        hinted !== undefined ? hinted + Math.floor(random() * 250) : Math.floor(random() * backoff) + 50;
      if (now() + delayMs >= tuning.deadline) return { skipStrategy: true };
      tuning.onRetry?.({
        attempt: retryCount + 1,
        ...(status !== undefined ? { status } : {}),
        ...(responseError ? { error: responseError.code ?? responseError.message } : {}),
        delayMs,
      });
      return { retryAfterInMs: delayMs };
    },
  };
}

function isTransientError(error: RestError): boolean {
  if (isAbortError(error)) return false;
  // A response that arrived but whose body was cut or malformed is worth another try.
  if (error.code === "INVALID_RESPONSE_BODY") return true;
  // No response at all: reset, refused, timed out, socket hang up.
  return error.response === undefined || error.statusCode === undefined;
}

/**
 * Whether a listing that failed is worth running again (a queue redelivery, say). Not when the client
 * refused what Partner Center answered on purpose: a @nextLink off the API's origin comes back the
 * same, and each attempt would only send the token for that page again to get it refused again.
 */
export function isRetryableListingFailure(error: unknown): boolean {
  return findCause(error, isPartnerCenterError)?.reason !== "next_link";
}
