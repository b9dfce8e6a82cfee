import { accountOf } from "./cachePlugin.js";
import { toAuthError } from "./classify.js";
import { runOperation } from "./context.js";
import { createPartnerCenterCredential } from "./credential.js";
import { explainAadsts, isConsentRequired } from "./errors.js";
import { TokenCacheStore } from "./keyVaultStore.js";
import { createRuntime } from "./msalApps.js";
import { PARTNER_CENTER_SCOPE, type AuthOptions } from "./options.js";

export type TokenCheck =
  | { readonly ok: true; readonly expiresOn: Date }
  | {
      readonly ok: false;
      readonly consentRequired: boolean;
      readonly message: string;
      readonly aadsts?: string;
      readonly explanation?: string;
    };

/** What `auth status` reports. Holds no token. */
export interface AuthStatusReport {
  readonly cloud: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly authority: string;
  readonly keyVaultUrl: string;
  readonly secretName: string;
  /** Whether a token cache is stored at all. */
  readonly stored: boolean;
  readonly account?: string;
  readonly consentFlow?: string;
  readonly clientType?: string;
  /** When the cache was last written (tag `updatedAt`, else the secret version's update time). */
  readonly lastRefreshed?: Date;
  readonly secretVersion?: string;
  readonly token: TokenCheck;
}

/**
 * Reads the stored sign-in and tries to get a Partner Center token now (refreshing if needed). Throws
 * AuthError when the vault itself cannot be read.
 */
export async function getAuthStatus(options: AuthOptions): Promise<AuthStatusReport> {
  const runtime = createRuntime(options);
  const base = {
    cloud: options.cloud,
    tenantId: options.tenantId,
    clientId: options.clientId,
    authority: runtime.authority,
    keyVaultUrl: options.keyVaultUrl,
    secretName: options.tokenCacheSecretName,
  };
  const store = new TokenCacheStore(runtime.secretClient, options.tokenCacheSecretName);
  let stored;
  try {
    stored = await runOperation(runtime.timeoutMs, [options.abortSignal], () => store.read());
  } catch (error) {
    throw toAuthError(error, options.clientId, runtime.authority);
  }
  const details = stored
    ? {
        ...optional("account", stored.tags.account ?? accountOf(stored.value)),
        ...optional("consentFlow", stored.tags.consentFlow),
        ...optional("clientType", stored.tags.clientType),
        ...optional("secretVersion", stored.version),
        ...lastRefreshed(stored.tags.updatedAt, stored.updatedOn),
      }
    : {};
  const token = await checkToken(options);
  // A successful check may have refreshed and stored a new version; report the newest.
  const latest =
    token.ok && stored
      ? await runOperation(runtime.timeoutMs, [options.abortSignal], () => store.read()).catch(() => stored)
      : stored;
  const refreshed =
    latest && stored && latest.version !== stored.version
      ? {
          ...optional("secretVersion", latest.version),
          ...lastRefreshed(latest.tags.updatedAt, latest.updatedOn),
        }
      : {};
  return { ...base, stored: stored !== undefined, ...details, ...refreshed, token };
}

async function checkToken(options: AuthOptions): Promise<TokenCheck> {
  try {
    const token = await createPartnerCenterCredential(options).getToken(PARTNER_CENTER_SCOPE);
    return { ok: true, expiresOn: new Date(token.expiresOnTimestamp) };
  } catch (error) {
    const failure = toAuthError(error, options.clientId, options.authorityHost ?? options.cloud);
    const explanation = explainAadsts(failure.aadsts);
    return {
      ok: false,
      consentRequired: isConsentRequired(failure),
      message: failure.message,
      ...optional("aadsts", failure.aadsts),
      ...optional("explanation", explanation),
    };
  }
}

function lastRefreshed(tag: string | undefined, updatedOn: Date | undefined): { lastRefreshed?: Date } {
  const fromTag = tag === undefined ? Number.NaN : Date.parse(tag);
  if (!Number.isNaN(fromTag)) return { lastRefreshed: new Date(fromTag) };
  return updatedOn === undefined ? {} : { lastRefreshed: updatedOn };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Partial<Record<K, string>>);
}
