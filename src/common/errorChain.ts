/** Longest cause chain followed: errors are wrapped a few times at most, never in a loop this long. */
const MAX_DEPTH = 8;

/**
 * The first error on `error`'s cause chain (itself included) that `guard` accepts. Errors are
 * recognised by their class guards (`isAuthError`, `isPartnerCenterError`, ...), never by name.
 */
export function findCause<T extends Error>(
  error: unknown,
  guard: (value: unknown) => value is T,
): T | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < MAX_DEPTH && current instanceof Error; depth++) {
    if (guard(current)) return current;
    current = current.cause;
  }
  return undefined;
}

/** Cancellation as `AbortSignal` and fetch report it (a DOMException named AbortError). */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}
