import {
  AuthError as MsalAuthError,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from "@azure/msal-node";
import { currentOperation } from "./context.js";
import type { AuthLogger } from "./logging.js";
import type { ResolvedRetry } from "./options.js";
import { backoffDelay, fitsBefore, parseRetryAfter, sleep } from "./retry.js";

/** Per-request cap, so one stalled connection cannot eat the whole budget. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * MSAL's HTTP client: native fetch (so it uses the process's default CA store), retries on network
 * failures, 429 and 5xx with backoff inside the operation's deadline, honours its abort signal, and
 * holds back token-endpoint POSTs while the token-cache lock is not held (so no refresh can rotate a
 * refresh token that would then not be written back). Redirects are never followed: a 307/308 would
 * have fetch re-post the refresh token and the app's secret to whatever origin the Location names.
 * Bodies and headers are never logged.
 */
export class MsalNetworkClient implements INetworkModule {
  constructor(
    private readonly retry: ResolvedRetry,
    private readonly logger: AuthLogger,
  ) {}

  sendGetRequestAsync<T>(
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    return this.send<T>("GET", url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const context = currentOperation();
    if (context && !context.tokenRequestsAllowed) {
      context.tokenRequestBlocked = true;
      return Promise.reject(new Error("token request held back until the token-cache lock is held"));
    }
    return this.send<T>("POST", url, options);
  }

  private async send<T>(
    method: "GET" | "POST",
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    const context = currentOperation();
    const deadline = context?.deadline ?? Date.now() + 120_000;
    const where = describeUrl(url);
    for (let attempt = 0; attempt < this.retry.maxAttempts; attempt++) {
      const last = attempt + 1 >= this.retry.maxAttempts;
      const signals = [AbortSignal.timeout(Math.min(timeout ?? REQUEST_TIMEOUT_MS, REQUEST_TIMEOUT_MS))];
      if (context) signals.push(context.signal);
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: options?.headers ?? {},
          ...(method === "POST" ? { body: options?.body ?? "" } : {}),
          redirect: "manual",
          signal: AbortSignal.any(signals),
        });
      } catch (error) {
        const reason = describeNetworkError(error);
        if (context) context.lastNetworkError = `${method} ${where}: ${reason}`;
        const delay = backoffDelay(this.retry, attempt);
        if (context?.signal.aborted || last || !fitsBefore(deadline, delay)) throw error;
        this.logger.log(
          "warning",
          `${method} ${where} failed (${reason}); retry ${attempt + 1} in ${Math.round(delay)} ms`,
        );
        await sleep(delay, context?.signal);
        continue;
      }
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel();
        // MSAL rethrows its own errors unchanged, so the message reaches the sign-in failure.
        const detail = `${method} ${where} answered ${response.status} with a redirect to ${describeLocation(response.headers.get("location"), url)}; sign-in requests never follow redirects`;
        if (context) context.lastNetworkError = detail;
        throw new MsalAuthError("redirect_refused", options?.correlationId ?? "", detail);
      }
      const text = await response.text();
      const transient = response.status === 429 || response.status >= 500;
      if (transient) {
        const delay = backoffDelay(this.retry, attempt, parseRetryAfter(response.headers.get("retry-after")));
        if (!context?.signal.aborted && !last && fitsBefore(deadline, delay)) {
          this.logger.log(
            "warning",
            `${method} ${where} answered ${response.status}; retry ${attempt + 1} in ${Math.round(delay)} ms`,
          );
          await sleep(delay, context?.signal);
          continue;
        }
      }
      const headers: Record<string, string> = {};
      response.headers.forEach((value, key) => {
        headers[key] = value;
      });
      return { headers, status: response.status, body: parseBody(text, response.status) as T };
    }
    throw new Error(`${method} ${where}: no attempt was made`);
  }
}

/** JSON body, or an OAuth-shaped error body when the server sent something else (e.g. a proxy's HTML). */
function parseBody(text: string, status: number): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return status >= 400
      ? {
          error: status >= 500 ? "temporarily_unavailable" : "invalid_request",
          error_description: `HTTP ${status} without a JSON body`,
        }
      : {};
  }
}

/** Origin and path only: query strings may carry codes. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

/** The Location's origin only: its path and query may carry codes or tokens. */
function describeLocation(location: string | null, base: string): string {
  if (location === null || location.trim() === "") return "(no Location)";
  try {
    return new URL(location, base).origin;
  } catch {
    return "(an invalid Location)";
  }
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
    const code = typeof cause?.code === "string" ? cause.code : undefined;
    if (error.name === "TimeoutError") return "timed out";
    if (error.name === "AbortError") return "aborted";
    return code ?? (typeof cause?.message === "string" ? cause.message : error.message);
  }
  return "unknown error";
}
