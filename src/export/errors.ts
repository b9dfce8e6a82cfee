export type ExportFailureReason =
  | "consent_required"
  | "sign_in"
  | "upstream"
  | "storage"
  | "count_mismatch"
  | "deadline"
  | "aborted"
  | "bad_request"
  | "internal";

/** An export that ended without publishing; `reason` is what the status API and CLI report. */
export class ExportError extends Error {
  readonly reason: ExportFailureReason;
  constructor(reason: ExportFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExportError";
    this.reason = reason;
  }
}

/** Finds a `reason` tag anywhere on an error's cause chain (auth errors travel wrapped). */
export function findReason(error: unknown, reason: string): Error | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if ((current as { reason?: unknown }).reason === reason) return current;
    current = current.cause;
  }
  return undefined;
}
