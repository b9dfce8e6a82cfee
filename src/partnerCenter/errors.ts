/** Identifiers Partner Center returns, kept for support cases and the manifest. */
export interface PartnerCenterTrace {
  readonly requestId?: string;
  readonly correlationId?: string;
  readonly cv?: string;
}

export type PartnerCenterErrorKind =
  | "unauthorized"
  | "forbidden"
  | "throttled"
  | "server"
  | "network"
  | "bad-response"
  | "bad-request"
  | "next-link"
  | "deadline";

/** A Partner Center call that failed for good (after retries where retrying made sense). */
export class PartnerCenterError extends Error {
  readonly kind: PartnerCenterErrorKind;
  readonly status?: number;
  readonly code?: string;
  readonly trace: PartnerCenterTrace;
  constructor(
    kind: PartnerCenterErrorKind,
    message: string,
    details: { status?: number; code?: string; trace?: PartnerCenterTrace; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "PartnerCenterError";
    this.kind = kind;
    if (details.status !== undefined) this.status = details.status;
    if (details.code !== undefined) this.code = details.code;
    this.trace = details.trace ?? {};
  }
}
