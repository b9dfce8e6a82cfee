import { RestError } from "@azure/core-rest-pipeline";
import { isAuthError } from "../auth/errors.js";
import { findCause, isAbortError } from "../common/errorChain.js";
import { isPartnerCenterError } from "../partnerCenter/errors.js";

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
  override readonly name = "ExportError";
  readonly reason: ExportFailureReason;
  constructor(reason: ExportFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

export function isExportError(error: unknown): error is ExportError {
  return error instanceof ExportError;
}

/** Why an export failed, from whatever it threw: its own error, or one found on the cause chain. */
export function toExportError(error: unknown): ExportError {
  if (isExportError(error)) return error;
  const auth = findCause(error, isAuthError);
  if (auth?.reason === "consent_required")
    return new ExportError("consent_required", auth.message, { cause: error });
  if (auth)
    return new ExportError("sign_in", `Sign-in failed before Partner Center was called: ${auth.message}`, {
      cause: error,
    });
  const upstream = findCause(error, isPartnerCenterError);
  if (upstream?.reason === "sign_in")
    return new ExportError(
      "sign_in",
      `Sign-in failed before Partner Center was called: ${upstream.message}`,
      {
        cause: error,
      },
    );
  if (upstream?.reason === "deadline") return new ExportError("deadline", upstream.message, { cause: error });
  if (upstream) return new ExportError("upstream", upstream.message, { cause: error });
  const storage = findCause(error, (e): e is RestError => e instanceof RestError);
  if (storage) return new ExportError("storage", `Blob Storage failed: ${storage.message}`, { cause: error });
  if (isAbortError(error)) {
    // Say why when the canceller said (a lost profile lock, a stopping host), not the platform's stock text.
    const why =
      error instanceof Error && !/operation was aborted/i.test(error.message) ? `: ${error.message}` : "";
    return new ExportError("aborted", `The export was cancelled before it finished${why}`, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ExportError("internal", message, { cause: error });
}
