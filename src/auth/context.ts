import { AsyncLocalStorage } from "node:async_hooks";
import type { GetTokenOptions } from "@azure/core-auth";
import { AuthError } from "./errors.js";

/**
 * State of one auth operation (a getToken, a consent), visible to the MSAL network client and the
 * cache plugin, which MSAL calls without letting us pass anything through.
 */
export interface OperationContext {
  readonly signal: AbortSignal;
  /** Epoch ms after which nothing new is started. */
  readonly deadline: number;
  /** Token-endpoint POSTs are allowed only while this is true (the token-cache lock is held, or consent). */
  tokenRequestsAllowed: boolean;
  /** Set when a token request was held back because the lock was not held. */
  tokenRequestBlocked: boolean;
  /** Last transport failure, for error messages. */
  lastNetworkError?: string;
}

type AbortSignalLike = NonNullable<GetTokenOptions["abortSignal"]>;

const storage = new AsyncLocalStorage<OperationContext>();

export function currentOperation(): OperationContext | undefined {
  return storage.getStore();
}

/** Runs `fn` as one operation bounded by `timeoutMs` and the given abort signals. */
export async function runOperation<T>(
  timeoutMs: number,
  signals: readonly (AbortSignalLike | undefined)[],
  fn: (context: OperationContext) => Promise<T>,
): Promise<T> {
  const live = signals.filter((s): s is AbortSignalLike => s !== undefined).map(toAbortSignal);
  const signal = AbortSignal.any([...live, AbortSignal.timeout(timeoutMs)]);
  const context: OperationContext = {
    signal,
    deadline: Date.now() + timeoutMs,
    tokenRequestsAllowed: false,
    tokenRequestBlocked: false,
  };
  return storage.run(context, () => fn(context));
}

/** The Azure SDK passes `AbortSignalLike`; AbortSignal.any needs real signals. */
function toAbortSignal(like: AbortSignalLike): AbortSignal {
  if (like instanceof AbortSignal) return like;
  const controller = new AbortController();
  if (like.aborted) controller.abort();
  else
    like.addEventListener(
      "abort",
      () => {
        controller.abort();
      },
      { once: true },
    );
  return controller.signal;
}

/** Read through a call so the compiler does not narrow it: the network client sets it behind MSAL. */
export function tokenRequestWasBlocked(context: OperationContext): boolean {
  return context.tokenRequestBlocked;
}

export function throwIfAborted(context: OperationContext | undefined): void {
  if (context?.signal.aborted) {
    const timedOut = Date.now() >= context.deadline;
    throw new AuthError(
      "aborted",
      timedOut
        ? "Partner Center sign-in did not finish within its time budget"
        : "Partner Center sign-in was cancelled",
      { cause: context.signal.reason },
    );
  }
}
