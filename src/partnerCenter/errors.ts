/** Identifiers Partner Center returns, kept for support cases and the manifest. */
export interface PartnerCenterTrace {
  readonly requestId?: string;
  readonly correlationId?: string;
  readonly cv?: string;
}

/**
 * The ids Microsoft support asks for about one response: MS-RequestId, MS-CorrelationId and, when
 * the response had one, its MS-CV (correlation vector).
 */
export function traceText(trace: PartnerCenterTrace): string {
  const cv = trace.cv ? `, MS-CV ${trace.cv}` : "";
  return `MS-RequestId ${trace.requestId ?? "?"}, MS-CorrelationId ${trace.correlationId ?? "?"}${cv}`;
}

export type PartnerCenterErrorReason =
  | "unauthorized"
  | "forbidden"
  | "throttled"
  | "server"
  | "network"
  | "bad_response"
  | "bad_request"
  | "next_link"
  | "deadline"
  /** The credential failed to give a token (its own error is the cause); Partner Center was not called. */
  | "sign_in";

/** A Partner Center call that failed for good (after retries where retrying made sense). */
export class PartnerCenterError extends Error {
  override readonly name = "PartnerCenterError";
  readonly reason: PartnerCenterErrorReason;
  readonly status?: number;
  readonly code?: string;
  readonly trace: PartnerCenterTrace;
  constructor(
    reason: PartnerCenterErrorReason,
    message: string,
    details: { status?: number; code?: string; trace?: PartnerCenterTrace; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    if (details.status !== undefined) this.status = details.status;
    if (details.code !== undefined) this.code = details.code;
    this.trace = details.trace ?? {};
  }
}

export function isPartnerCenterError(error: unknown): error is PartnerCenterError {
  return error instanceof PartnerCenterError;
}
