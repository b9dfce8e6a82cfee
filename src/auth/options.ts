import type { TokenCredential } from "@azure/core-auth";
import type { ContainerClient } from "@azure/storage-blob";
import { AuthError } from "./errors.js";
import type { AuthLogger, AuthLogLevel } from "./logging.js";

/** Delegated scope of the Partner Center API. */
export const PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation";
export const DEFAULT_TOKEN_CACHE_SECRET_NAME = "partner-center-token-cache";
/** Storage container that holds run locks and the token-cache lock. */
export const LOCK_CONTAINER = "export-locks";
export const TOKEN_CACHE_LOCK_BLOB = "token-cache.lock";
export const CHINA_NOT_OFFERED =
  "Partner Center referrals analytics is not offered in the China (21Vianet) cloud";

/** Values `PARTNER_CENTER_CLOUD` may hold; `china` exists only to be refused clearly. */
export type CloudName = "global" | "usgov" | "china";
export type PartnerCenterCloud = Exclude<CloudName, "china">;

/** How the app registration proves itself to Entra ID when it redeems codes and refresh tokens. */
export type AppCredentialOptions =
  | {
      readonly kind: "managed-identity";
      /** User-assigned managed identity client id; system-assigned when absent. */
      readonly managedIdentityClientId?: string;
      /** Source of the federated assertion; a `ManagedIdentityCredential` when absent. */
      readonly assertionCredential?: TokenCredential;
    }
  | { readonly kind: "secret"; readonly secretName: string }
  | { readonly kind: "certificate"; readonly certificateName: string };

export interface RetryOptions {
  /** Tries per request, first one included. Default 5. */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles each retry (with jitter). Default 500 ms. */
  readonly initialDelayMs?: number;
  /** Longest single backoff delay. Default 8 s. */
  readonly maxDelayMs?: number;
}

export interface AuthOptions {
  readonly cloud: CloudName;
  readonly tenantId: string;
  /** Client id of the Partner Center app registration. */
  readonly clientId: string;
  /** Authority origin override such as `https://127.0.0.1:PORT`; only with `localMode`. */
  readonly authorityHost?: string;
  readonly credential: AppCredentialOptions;
  readonly keyVaultUrl: string;
  readonly tokenCacheSecretName: string;
  /** Identity used to reach Key Vault; see `createKeyVaultCredential`. */
  readonly keyVaultCredential: TokenCredential;
  /** The `export-locks` container; the token-cache lease lives on `token-cache.lock` in it. */
  readonly lock: ContainerClient;
  /** Local mode (`LOCAL_MODE=true`): permits `authorityHost` and a Key Vault that is not on vault.azure.net. */
  readonly localMode?: boolean;
  /** Time budget for one getToken (lock wait, Key Vault and token endpoint retries included). Default 120 s. */
  readonly timeoutMs?: number;
  /** Aborts everything in flight (e.g. host shutdown). */
  readonly abortSignal?: AbortSignal;
  readonly retry?: RetryOptions;
  /** Lease length on the token-cache lock, 15–60 s. Default 30 s. */
  readonly leaseSeconds?: number;
  readonly logger?: AuthLogger;
  /** Level passed to MSAL's logger (PII logging is always off). Default `warning`. */
  readonly msalLogLevel?: AuthLogLevel;
}

export interface ResolvedRetry {
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export function resolveRetry(retry: RetryOptions | undefined): ResolvedRetry {
  return {
    maxAttempts: Math.max(1, Math.min(10, retry?.maxAttempts ?? 5)),
    initialDelayMs: Math.max(0, retry?.initialDelayMs ?? 500),
    maxDelayMs: Math.max(0, retry?.maxDelayMs ?? 8000),
  };
}

/**
 * Entra ID authority for a Partner Center cloud: global -> login.microsoftonline.com, usgov ->
 * login.microsoftonline.us. `authorityHost` replaces the origin (the local simulator).
 */
export function authorityFor(cloud: string, tenantId: string, authorityHost?: string): string {
  if (cloud === "china") throw new AuthError("configuration", CHINA_NOT_OFFERED);
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$/.test(tenantId)) {
    throw new AuthError("configuration", `AZURE_TENANT_ID '${tenantId}' is not a tenant id or domain name`);
  }
  let origin: string;
  if (authorityHost !== undefined) {
    let url: URL;
    try {
      url = new URL(authorityHost);
    } catch {
      throw new AuthError("configuration", `PARTNER_CENTER_AUTHORITY_HOST '${authorityHost}' is not a URL`);
    }
    if (url.protocol !== "https:") {
      throw new AuthError(
        "configuration",
        "PARTNER_CENTER_AUTHORITY_HOST must use https (MSAL refuses other schemes)",
      );
    }
    origin = url.origin;
  } else if (cloud === "global") {
    origin = "https://login.microsoftonline.com";
  } else if (cloud === "usgov") {
    origin = "https://login.microsoftonline.us";
  } else {
    throw new AuthError("configuration", `PARTNER_CENTER_CLOUD '${cloud}' is not one of global, usgov`);
  }
  return `${origin}/${tenantId}`;
}

/** Audience of the managed identity token used as a federated client assertion, per cloud. */
export function tokenExchangeScope(cloud: CloudName): string {
  if (cloud === "china") throw new AuthError("configuration", CHINA_NOT_OFFERED);
  return cloud === "usgov"
    ? "api://AzureADTokenExchangeUSGov/.default"
    : "api://AzureADTokenExchange/.default";
}

/** Rejects option combinations that must never reach production. */
export function validateAuthOptions(options: AuthOptions): void {
  authorityFor(options.cloud, options.tenantId, options.authorityHost);
  if (options.authorityHost !== undefined && options.localMode !== true) {
    throw new AuthError(
      "configuration",
      "PARTNER_CENTER_AUTHORITY_HOST is only allowed with LOCAL_MODE=true",
    );
  }
  if (options.clientId.trim() === "")
    throw new AuthError("configuration", "PARTNER_CENTER_CLIENT_ID is empty");
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(options.tokenCacheSecretName)) {
    throw new AuthError(
      "configuration",
      `TOKEN_CACHE_SECRET_NAME '${options.tokenCacheSecretName}' is not a valid Key Vault secret name`,
    );
  }
  let vault: URL;
  try {
    vault = new URL(options.keyVaultUrl);
  } catch {
    throw new AuthError("configuration", `KEY_VAULT_URL '${options.keyVaultUrl}' is not a URL`);
  }
  if (vault.protocol !== "https:") throw new AuthError("configuration", "KEY_VAULT_URL must use https");
  if (options.leaseSeconds !== undefined && (options.leaseSeconds < 15 || options.leaseSeconds > 60)) {
    throw new AuthError("configuration", "the token-cache lease must last between 15 and 60 seconds");
  }
}
