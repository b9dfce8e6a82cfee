import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type {
  AccountInfo,
  AuthenticationResult,
  ConfidentialClientApplication,
  PublicClientApplication,
} from "@azure/msal-node";
import { KeyVaultCachePlugin } from "./cachePlugin.js";
import { clientTypeMismatch, toAuthError } from "./classify.js";
import { runOperation, throwIfAborted, tokenRequestWasBlocked, type OperationContext } from "./context.js";
import { LOGIN_COMMAND, AuthError, ConsentRequiredError } from "./errors.js";
import { TokenCacheStore } from "./keyVaultStore.js";
import { TokenCacheLock, type HeldLock } from "./lock.js";
import { createConfidentialApp, createPublicApp, createRuntime, type AuthRuntime } from "./msalApps.js";
import { PARTNER_CENTER_SCOPE, TOKEN_CACHE_LOCK_BLOB, type AuthOptions } from "./options.js";

/** Access tokens are reused from memory until this long before they expire. */
const REUSE_MARGIN_MS = 5 * 60_000;

export type ClientType = "public" | "confidential";

/**
 * The delegated (App+User) Partner Center token provider, as an `@azure/core-auth` TokenCredential.
 *
 * Tokens come from MSAL's `acquireTokenSilent` for the one consented account in the token cache kept
 * in Key Vault; MSAL refreshes with the refresh token it holds. To keep a rotated refresh token from
 * ever being lost or overwritten by an older cache:
 *  - a token still valid for more than 5 minutes is served from memory (no Key Vault, no lock);
 *  - otherwise the cache is read from Key Vault without the lock, and a cached access token is used
 *    if MSAL has one (token-endpoint calls are held back in this phase);
 *  - only when a refresh is needed is the blob lease taken, the cache re-read, refreshed and, when MSAL
 *    reports a change, written back as a new secret version before the lease is released.
 */
export class PartnerCenterCredential implements TokenCredential {
  private readonly runtime: AuthRuntime;
  private readonly plugin: KeyVaultCachePlugin;
  private readonly lock: TokenCacheLock;
  private readonly memory = new Map<string, AccessToken>();
  private publicApp: PublicClientApplication | undefined;
  private confidentialApp: Promise<ConfidentialClientApplication> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: AuthOptions) {
    this.runtime = createRuntime(options);
    const store = new TokenCacheStore(this.runtime.secretClient, options.tokenCacheSecretName);
    this.plugin = new KeyVaultCachePlugin(store, this.runtime.logger);
    this.lock = new TokenCacheLock(
      options.lock,
      TOKEN_CACHE_LOCK_BLOB,
      options.leaseSeconds ?? 30,
      this.runtime.logger,
    );
  }

  async getToken(scopes: string | string[], options: GetTokenOptions = {}): Promise<AccessToken> {
    const list = (Array.isArray(scopes) ? scopes : [scopes]).filter((s) => s.trim() !== "");
    const requested = list.length > 0 ? [...new Set(list)].sort() : [PARTNER_CENTER_SCOPE];
    const key = requested.join(" ");
    const remembered = this.fresh(key);
    if (remembered) return remembered;
    // One MSAL operation at a time per instance: the plugin's session and the app's cache are shared.
    const run = this.queue.then(() => this.fresh(key) ?? this.acquire(requested, key, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Forgets access tokens held in memory (the next getToken goes to the cache in Key Vault). */
  clearMemory(): void {
    this.memory.clear();
  }

  private fresh(key: string): AccessToken | undefined {
    const token = this.memory.get(key);
    return token && token.expiresOnTimestamp - Date.now() > REUSE_MARGIN_MS ? token : undefined;
  }

  private async acquire(scopes: string[], key: string, options: GetTokenOptions): Promise<AccessToken> {
    const { runtime } = this;
    try {
      return await runOperation(
        runtime.timeoutMs,
        [runtime.options.abortSignal, options.abortSignal],
        async (context) => {
          const cached = await this.attempt(scopes, context, undefined);
          const result =
            cached ?? (await this.lock.run(context, (held) => this.attempt(scopes, context, held)));
          if (!result) throw new AuthError("unexpected", "MSAL returned no token");
          const token = toAccessToken(result);
          this.memory.set(key, token);
          return token;
        },
      );
    } catch (error) {
      throw toAuthError(error, runtime.options.clientId, runtime.authority);
    }
  }

  /**
   * One silent attempt against the cache as stored now. Without `held` no token request may be sent:
   * undefined means "a refresh is needed, take the lock".
   */
  private async attempt(
    scopes: string[],
    context: OperationContext,
    held: HeldLock | undefined,
  ): Promise<AuthenticationResult | undefined> {
    throwIfAborted(context);
    const stored = await this.plugin.openSession(held);
    try {
      if (!stored) throw ConsentRequiredError.noStoredSignIn(this.runtime.options.tokenCacheSecretName);
      let clientType: ClientType = stored.tags.clientType === "public" ? "public" : "confidential";
      context.tokenRequestsAllowed = held !== undefined;
      context.tokenRequestBlocked = false;
      for (let round = 0; round < 2; round++) {
        const app = clientType === "public" ? this.getPublicApp() : await this.getConfidentialApp();
        const account = await singleAccount(app, this.runtime.options.tokenCacheSecretName);
        try {
          return await app.acquireTokenSilent({ account, scopes });
        } catch (error) {
          if (!held && tokenRequestWasBlocked(context)) return undefined;
          // Entra remembers whether the consent was a public or confidential client flow and wants
          // refreshes redeemed the same way; follow its answer once and record it for next time.
          const mismatch = clientTypeMismatch(error);
          if (held && round === 0 && mismatch !== undefined) {
            clientType = mismatch === "use-public" ? "public" : "confidential";
            this.plugin.updateTags({ clientType });
            this.runtime.logger.log(
              "warning",
              `Entra ID wants this sign-in refreshed as a ${clientType} client; switching`,
            );
            continue;
          }
          throw error;
        }
      }
      throw new AuthError(
        "unexpected",
        "Entra ID refused the refresh as both a public and a confidential client",
      );
    } finally {
      context.tokenRequestsAllowed = false;
      this.plugin.closeSession();
    }
  }

  private getPublicApp(): PublicClientApplication {
    this.publicApp ??= createPublicApp(this.runtime, this.plugin);
    return this.publicApp;
  }

  private getConfidentialApp(): Promise<ConfidentialClientApplication> {
    const pending = (this.confidentialApp ??= createConfidentialApp(this.runtime, this.plugin));
    // A failed credential load (e.g. Key Vault unreachable) is retried on the next call.
    pending.catch(() => {
      if (this.confidentialApp === pending) this.confidentialApp = undefined;
    });
    return pending;
  }
}

/** Builds the delegated Partner Center credential (see PartnerCenterCredential). */
export function createPartnerCenterCredential(options: AuthOptions): PartnerCenterCredential {
  return new PartnerCenterCredential(options);
}

async function singleAccount(
  app: PublicClientApplication | ConfidentialClientApplication,
  secretName: string,
): Promise<AccountInfo> {
  const accounts = await app.getTokenCache().getAllAccounts();
  const [account] = accounts;
  if (account === undefined) throw ConsentRequiredError.noStoredSignIn(secretName);
  if (accounts.length > 1) {
    throw new ConsentRequiredError(
      `Consent is needed: the token cache in Key Vault secret '${secretName}' holds ${accounts.length} accounts, expected one. Run: ${LOGIN_COMMAND}`,
    );
  }
  return account;
}

function toAccessToken(result: AuthenticationResult): AccessToken {
  const expiresOnTimestamp = result.expiresOn?.getTime() ?? Date.now() + 5 * 60_000;
  return {
    token: result.accessToken,
    expiresOnTimestamp,
    refreshAfterTimestamp: Math.max(Date.now(), expiresOnTimestamp - REUSE_MARGIN_MS),
    tokenType: "Bearer",
  };
}
