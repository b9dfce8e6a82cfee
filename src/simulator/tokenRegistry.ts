import { randomBytes, randomUUID } from "node:crypto";
import type { TokenVerdict, TokenVerifier } from "./types.js";

/** Audience (resource) of Partner Center tokens. */
export const PARTNER_CENTER_AUDIENCE = "https://api.partnercenter.microsoft.com";
/** Audience (resource) of Key Vault tokens. */
export const KEY_VAULT_AUDIENCE = "https://vault.azure.net";

/** The person who signs in to the simulated Entra ID. */
export interface SimulatedUser {
  readonly username: string;
  readonly oid: string;
  readonly name: string;
}

export interface AccessTokenRecord {
  readonly audience: string;
  /** Scope names without the resource, e.g. `user_impersonation` or `.default`. */
  readonly scopes: readonly string[];
  /** App+User (true) or app-only (false). */
  readonly delegated: boolean;
  readonly clientId: string;
  readonly tenantId: string;
  readonly userOid?: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export interface RefreshTokenRecord {
  readonly clientId: string;
  readonly tenantId: string;
  readonly user: SimulatedUser;
  /** Full scopes as requested, e.g. `https://api.partnercenter.microsoft.com/user_impersonation`. */
  readonly scopes: readonly string[];
  /** Issued through a public-client flow (device code, or a code redeemed without client credentials). */
  readonly publicClient: boolean;
  readonly issuedAt: number;
  expiresAt: number;
  revoked?: "revoked" | "rotated";
}

export type RefreshOutcome =
  | { readonly ok: true; readonly record: RefreshTokenRecord }
  | {
      readonly ok: false;
      readonly reason: "unknown" | "expired" | "revoked";
      readonly record?: RefreshTokenRecord;
    };

export interface TokenRegistryOptions {
  /** Lifetime of issued access tokens. Default 3600 s. */
  readonly accessTokenLifetimeSeconds?: number;
  /** Lifetime of issued refresh tokens. Default 90 days, like Entra ID's inactivity window. */
  readonly refreshTokenLifetimeSeconds?: number;
  /** Revoke a refresh token as soon as it has been exchanged for a new one. Default false (Entra's behaviour). */
  readonly revokeRotatedRefreshTokens?: boolean;
  readonly now?: () => number;
}

export interface TokenCounters {
  accessTokensIssued: number;
  refreshTokensIssued: number;
  /** refresh_token grants that produced tokens. */
  refreshGrants: number;
  /** refresh_token grants refused (unknown, expired or revoked token). */
  refreshGrantsRejected: number;
}

/** Tokens kept for the process-wide record; beyond this the oldest are forgotten. */
const ISSUED_RECORD_LIMIT = 20_000;
/** On globalThis (not module state) so every copy of this module in a process shares one record. */
const ISSUED_RECORD_KEY = Symbol.for("referrals-export.simulator.issuedTokens");

function issuedRecord(): Set<string> {
  const holder = globalThis as { [ISSUED_RECORD_KEY]?: Set<string> };
  return (holder[ISSUED_RECORD_KEY] ??= new Set<string>());
}

function remember(token: string): void {
  const record = issuedRecord();
  record.add(token);
  if (record.size > ISSUED_RECORD_LIMIT) {
    const oldest = record.values().next();
    if (oldest.done !== true) record.delete(oldest.value);
  }
}

/**
 * Every access and refresh token any TokenRegistry in this process has issued (the most recent
 * 20,000), for checks that no credential ever reached a log line or an output.
 */
export function tokensIssuedInProcess(): string[] {
  return [...issuedRecord()];
}

/**
 * Every token the simulated Entra ID issued, with what it is good for. The Partner Center and Key Vault
 * routes ask it whether a bearer token is acceptable; tests use it to revoke or expire refresh tokens,
 * shorten lifetimes and count refreshes.
 */
export class TokenRegistry implements TokenVerifier {
  accessTokenLifetimeSeconds: number;
  refreshTokenLifetimeSeconds: number;
  revokeRotatedRefreshTokens: boolean;
  readonly counters: TokenCounters = {
    accessTokensIssued: 0,
    refreshTokensIssued: 0,
    refreshGrants: 0,
    refreshGrantsRejected: 0,
  };
  private readonly now: () => number;
  private readonly accessTokens = new Map<string, AccessTokenRecord>();
  private readonly refreshTokens = new Map<string, RefreshTokenRecord>();

  constructor(options: TokenRegistryOptions = {}) {
    this.accessTokenLifetimeSeconds = options.accessTokenLifetimeSeconds ?? 3600;
    this.refreshTokenLifetimeSeconds = options.refreshTokenLifetimeSeconds ?? 90 * 24 * 3600;
    this.revokeRotatedRefreshTokens = options.revokeRotatedRefreshTokens ?? false;
    this.now = options.now ?? Date.now;
  }

  issueAccessToken(input: Omit<AccessTokenRecord, "issuedAt" | "expiresAt">): {
    token: string;
    expiresInSeconds: number;
  } {
    const issuedAt = this.now();
    const expiresInSeconds = this.accessTokenLifetimeSeconds;
    const record: AccessTokenRecord = { ...input, issuedAt, expiresAt: issuedAt + expiresInSeconds * 1000 };
    const token = jwtLike({
      aud: input.audience,
      iss: `https://sts.windows.net/${input.tenantId}/`,
      tid: input.tenantId,
      appid: input.clientId,
      ...(input.delegated ? { scp: input.scopes.join(" "), oid: input.userOid } : { roles: [] }),
      iat: Math.floor(issuedAt / 1000),
      nbf: Math.floor(issuedAt / 1000),
      exp: Math.floor(record.expiresAt / 1000),
      uti: randomUUID(),
    });
    this.accessTokens.set(token, record);
    remember(token);
    this.counters.accessTokensIssued++;
    return { token, expiresInSeconds };
  }

  /**
   * Counts an access token the simulated tenant signed for one of its own APIs and adds it to the
   * process-wide record; its holder validates it against the published keys, not here.
   */
  recordSignedAccessToken(token: string): void {
    remember(token);
    this.counters.accessTokensIssued++;
  }

  issueRefreshToken(input: Omit<RefreshTokenRecord, "issuedAt" | "expiresAt" | "revoked">): string {
    const issuedAt = this.now();
    const token = `sim-rt.${randomBytes(32).toString("base64url")}`;
    remember(token);
    this.refreshTokens.set(token, {
      ...input,
      issuedAt,
      expiresAt: issuedAt + this.refreshTokenLifetimeSeconds * 1000,
    });
    this.counters.refreshTokensIssued++;
    return token;
  }

  /**
   * Checks a refresh token presented in a refresh_token grant and does the rotation bookkeeping: in
   * rotate-and-revoke mode the token is revoked once it has been used.
   */
  redeemRefreshToken(token: string): RefreshOutcome {
    const outcome = this.inspectRefreshToken(token);
    if (outcome.ok) {
      this.counters.refreshGrants++;
      if (this.revokeRotatedRefreshTokens) outcome.record.revoked = "rotated";
    } else {
      this.counters.refreshGrantsRejected++;
    }
    return outcome;
  }

  /** Says whether a refresh token would be accepted, without using it up. */
  inspectRefreshToken(token: string): RefreshOutcome {
    const record = this.refreshTokens.get(token);
    if (!record) return { ok: false, reason: "unknown" };
    if (record.revoked) return { ok: false, reason: "revoked", record };
    if (record.expiresAt <= this.now()) return { ok: false, reason: "expired", record };
    return { ok: true, record };
  }

  /** Revokes refresh tokens (all, or those matching), as a password reset or admin revocation would. */
  revokeRefreshTokens(match: (record: RefreshTokenRecord) => boolean = () => true): number {
    let count = 0;
    for (const record of this.refreshTokens.values()) {
      if (!record.revoked && match(record)) {
        record.revoked = "revoked";
        count++;
      }
    }
    return count;
  }

  /** Makes every live refresh token expired, as 90 days of inactivity would. */
  expireRefreshTokens(): number {
    let count = 0;
    const past = this.now() - 1;
    for (const record of this.refreshTokens.values()) {
      if (!record.revoked && record.expiresAt > past) {
        record.expiresAt = past;
        count++;
      }
    }
    return count;
  }

  /** Refresh tokens that would still be accepted. */
  liveRefreshTokenCount(): number {
    const now = this.now();
    return [...this.refreshTokens.values()].filter((r) => !r.revoked && r.expiresAt > now).length;
  }

  describeAccessToken(token: string): AccessTokenRecord | undefined {
    return this.accessTokens.get(token);
  }

  /** Every token string issued so far (for tests that check nothing secret reached the logs). */
  issuedTokenStrings(): string[] {
    return [...this.accessTokens.keys(), ...this.refreshTokens.keys()];
  }

  /** The Partner Center route's question: is this a live delegated Partner Center token? */
  verify(authorization: string | undefined): TokenVerdict {
    return this.verifyFor(PARTNER_CENTER_AUDIENCE, authorization, { requireDelegated: true });
  }

  /** Checks a bearer token against an audience; app-only tokens pass unless `requireDelegated`. */
  verifyFor(
    audience: string,
    authorization: string | undefined,
    options: { requireDelegated?: boolean } = {},
  ): TokenVerdict {
    if (authorization === undefined || authorization.trim() === "") return "missing";
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match?.[1]) return "invalid";
    const record = this.accessTokens.get(match[1]);
    if (!record || record.audience !== audience) return "invalid";
    if (record.expiresAt <= this.now()) return "expired";
    if (options.requireDelegated && !record.delegated) return "app-only";
    return "ok";
  }
}

/** A JWT-shaped opaque token: decodable claims, but only the registry can vouch for it. */
function jwtLike(claims: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ typ: "JWT", alg: "RS256", kid: "simulator" })).toString(
    "base64url",
  );
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${header}.${payload}.${randomBytes(32).toString("base64url")}`;
}
