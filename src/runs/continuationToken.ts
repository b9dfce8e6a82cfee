import { createHash } from "node:crypto";

/** Longest continuation token read (the storage service's markers are far shorter). */
const MAX_TOKEN_LENGTH = 2048;
const MAX_MARKER_LENGTH = 1024;
const VERSION = 1;

export type InvalidContinuationTokenReason = "malformed" | "tampered" | "other_listing";

/** A continuation token that this service did not issue for the listing asked for. */
export class InvalidContinuationTokenError extends Error {
  override readonly name = "InvalidContinuationTokenError";
  constructor(
    readonly reason: InvalidContinuationTokenReason,
    message: string,
  ) {
    super(message);
  }
}

export function isInvalidContinuationTokenError(error: unknown): error is InvalidContinuationTokenError {
  return error instanceof InvalidContinuationTokenError;
}

/** What a listing covers: every run, or one profile's (or ad-hoc name's) runs. */
export function listingScope(profile: string | undefined): string {
  return profile === undefined ? "*" : `profile:${profile}`;
}

function checksum(scope: string, marker: string): string {
  return createHash("sha256").update(`${VERSION}\n${scope}\n${marker}`).digest("base64url").slice(0, 22);
}

/**
 * Wraps the blob listing's continuation marker for a caller: base64url of a JSON array holding a
 * version, the listing's scope, the marker and a checksum over them (an array, so the token does
 * not start like a JWT and no redaction of printed text mistakes it for one). The checksum is not a secret; it turns an edited or
 * damaged token into a clear refusal. What keeps a caller inside a profile is that the listing's
 * prefix always comes from the request, never from the token: a token of another listing is
 * refused, and a forged marker can only move within the requested prefix.
 */
export function encodeContinuationToken(scope: string, marker: string): string {
  return Buffer.from(JSON.stringify([VERSION, scope, marker, checksum(scope, marker)])).toString("base64url");
}

/** The storage marker inside a token issued for `scope`; throws InvalidContinuationTokenError. */
export function decodeContinuationToken(token: string, scope: string): string {
  const restart = "start the listing again without it";
  const malformed = (): InvalidContinuationTokenError =>
    new InvalidContinuationTokenError(
      "malformed",
      `the continuation token is not valid: it is not a token this service issued; ${restart}`,
    );
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token))
    throw malformed();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw malformed();
  }
  if (!Array.isArray(value) || value.length !== 4) throw malformed();
  const [v, s, m, c] = value as unknown[];
  if (
    v !== VERSION ||
    typeof s !== "string" ||
    typeof m !== "string" ||
    typeof c !== "string" ||
    m.length === 0 ||
    m.length > MAX_MARKER_LENGTH
  )
    throw malformed();
  if (c !== checksum(s, m))
    throw new InvalidContinuationTokenError(
      "tampered",
      `the continuation token is not valid: it was changed after it was issued; ${restart}`,
    );
  if (s !== scope)
    throw new InvalidContinuationTokenError(
      "other_listing",
      `the continuation token is not valid here: it continues another listing than the runs of ${describeScope(scope)}; ${restart}`,
    );
  return m;
}

function describeScope(scope: string): string {
  return scope === "*" ? "every profile" : `profile '${scope.slice("profile:".length)}'`;
}
