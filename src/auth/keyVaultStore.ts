import { isRestError } from "@azure/core-rest-pipeline";
import { SecretClient } from "@azure/keyvault-secrets";
import { currentOperation } from "./context.js";
import { AuthError, isAuthError } from "./errors.js";
import { resolveRetry, type AuthOptions } from "./options.js";

/** Content type of the token-cache secret: MSAL's JSON cache serialization. */
export const TOKEN_CACHE_CONTENT_TYPE = "application/vnd.msal-cache+json";

/** Tags stored with the token cache. None of them is secret. */
export interface TokenCacheTags {
  /** Signed-in user (UPN). */
  account?: string;
  /** When the product last wrote the cache (ISO 8601). */
  updatedAt?: string;
  /** `device-code` or `auth-code`. */
  consentFlow?: string;
  /** `public` or `confidential`: how refresh tokens from this consent must be redeemed. */
  clientType?: string;
  tenantId?: string;
}

export interface StoredTokenCache {
  readonly value: string;
  readonly version?: string;
  readonly tags: TokenCacheTags;
  readonly updatedOn?: Date;
}

/** A SecretClient for the product's vault, with retries from the options. */
export function createSecretClient(options: AuthOptions): SecretClient {
  const retry = resolveRetry(options.retry);
  return new SecretClient(options.keyVaultUrl, options.keyVaultCredential, {
    // The simulator's vault is not on *.vault.azure.net; only local mode may skip that check.
    disableChallengeResourceVerification: options.localMode === true,
    retryOptions: {
      maxRetries: retry.maxAttempts - 1,
      retryDelayInMs: retry.initialDelayMs,
      maxRetryDelayInMs: retry.maxDelayMs,
    },
  });
}

/** Reads and writes the serialized MSAL cache in one Key Vault secret. */
export class TokenCacheStore {
  constructor(
    private readonly client: SecretClient,
    readonly secretName: string,
  ) {}

  async read(): Promise<StoredTokenCache | undefined> {
    const secret = await readSecret(this.client, this.secretName, "token cache");
    if (!secret) return undefined;
    return {
      value: secret.value,
      ...(secret.version === undefined ? {} : { version: secret.version }),
      tags: secret.tags,
      ...(secret.updatedOn === undefined ? {} : { updatedOn: secret.updatedOn }),
    };
  }

  /** Stores a new version; returns its version id. */
  async write(value: string, tags: TokenCacheTags): Promise<string | undefined> {
    const signal = currentOperation()?.signal;
    const cleanTags = Object.fromEntries(
      Object.entries(tags).filter(
        (entry): entry is [string, string] => typeof entry[1] === "string" && entry[1] !== "",
      ),
    );
    try {
      const result = await this.client.setSecret(this.secretName, value, {
        contentType: TOKEN_CACHE_CONTENT_TYPE,
        tags: cleanTags,
        ...(signal === undefined ? {} : { abortSignal: signal }),
      });
      return result.properties.version;
    } catch (error) {
      throw keyVaultError("write", this.secretName, "token cache", error);
    }
  }
}

export interface SecretContent {
  readonly value: string;
  readonly version?: string;
  readonly contentType?: string;
  readonly tags: Record<string, string>;
  readonly updatedOn?: Date;
}

/** Reads a secret's latest version; undefined when it does not exist. */
export async function readSecret(
  client: SecretClient,
  name: string,
  what: string,
): Promise<SecretContent | undefined> {
  const signal = currentOperation()?.signal;
  try {
    const secret = await client.getSecret(name, signal === undefined ? {} : { abortSignal: signal });
    return {
      value: secret.value ?? "",
      ...(secret.properties.version === undefined ? {} : { version: secret.properties.version }),
      ...(secret.properties.contentType === undefined ? {} : { contentType: secret.properties.contentType }),
      tags: secret.properties.tags ?? {},
      ...(secret.properties.updatedOn === undefined ? {} : { updatedOn: secret.properties.updatedOn }),
    };
  } catch (error) {
    if (isRestError(error) && error.statusCode === 404) return undefined;
    throw keyVaultError("read", name, what, error);
  }
}

function keyVaultError(operation: "read" | "write", name: string, what: string, error: unknown): AuthError {
  if (isAuthError(error)) return error;
  if (isRestError(error)) {
    const status = error.statusCode === undefined ? "no response" : `HTTP ${error.statusCode}`;
    const hint =
      error.statusCode === 403
        ? operation === "read"
          ? " (the identity needs permission to get secrets, e.g. the Key Vault Secrets User role)"
          : " (the identity needs permission to set secrets, e.g. the Key Vault Secrets Officer role)"
        : "";
    return new AuthError(
      "key_vault",
      `Key Vault ${operation} of the ${what} secret '${name}' failed: ${status}${error.code ? ` ${error.code}` : ""}${hint}`,
      {
        cause: error,
      },
    );
  }
  const detail = error instanceof Error ? `${error.name}: ${firstLine(error.message)}` : String(error);
  return new AuthError(
    "key_vault",
    `Key Vault ${operation} of the ${what} secret '${name}' failed: ${detail}`,
    { cause: error },
  );
}

function firstLine(text: string): string {
  return text.split("\n")[0]?.slice(0, 300) ?? "";
}
