import type { HttpResponseInit } from "@azure/functions";
import { redact } from "../common/redact.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** Problem types this API answers with (RFC 9457 `type`); docs/http-api.md describes each. */
export const PROBLEM_TYPES = {
  invalidRequest: "urn:referrals-export:problem:invalid-request",
  bodyTooLarge: "urn:referrals-export:problem:body-too-large",
  runNotFound: "urn:referrals-export:problem:run-not-found",
  runInProgress: "urn:referrals-export:problem:run-in-progress",
  runNotSucceeded: "urn:referrals-export:problem:run-not-succeeded",
  readLinksDisabled: "urn:referrals-export:problem:read-links-disabled",
  storageUnavailable: "urn:referrals-export:problem:storage-unavailable",
  internal: "urn:referrals-export:problem:internal-error",
  unauthenticated: "urn:referrals-export:problem:unauthenticated",
  forbidden: "urn:referrals-export:problem:forbidden",
  authUnavailable: "urn:referrals-export:problem:auth-unavailable",
  tooManyRuns: "urn:referrals-export:problem:too-many-runs",
  consentUnavailable: "urn:referrals-export:problem:consent-unavailable",
} as const;

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly errors?: readonly FieldError[];
  readonly [extension: string]: unknown;
}

/**
 * An RFC 9457 problem details response. Its texts are redacted: they can quote what the caller
 * sent (a JSON parse error quotes the body) or what a run recorded.
 */
export function problemResponse(problem: Problem, headers: Record<string, string> = {}): HttpResponseInit {
  const { detail, errors } = problem;
  const shown: Problem = {
    ...problem,
    detail: redact(detail),
    ...(errors
      ? { errors: errors.map((e) => ({ field: redact(e.field), message: redact(e.message) })) }
      : {}),
  };
  return {
    status: problem.status,
    headers: { "content-type": PROBLEM_CONTENT_TYPE, "cache-control": "no-store", ...headers },
    body: JSON.stringify(shown),
  };
}

/** 400 naming every bad field; `detail` sums them up in one sentence. */
export function invalidRequest(errors: readonly FieldError[], instance?: string): HttpResponseInit {
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  return problemResponse({
    type: PROBLEM_TYPES.invalidRequest,
    title: "The request is not valid",
    status: 400,
    detail,
    ...(instance ? { instance } : {}),
    errors,
  });
}

export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
    body: JSON.stringify(body),
  };
}
