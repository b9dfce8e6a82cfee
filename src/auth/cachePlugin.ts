import type { ICachePlugin, TokenCacheContext } from "@azure/msal-node";
import type { HeldLock } from "./lock.js";
import type { AuthLogger } from "./logging.js";
import type { StoredTokenCache, TokenCacheStore, TokenCacheTags } from "./keyVaultStore.js";

/** MSAL's serialized form of an empty cache; deserializing it clears the in-memory cache. */
export const EMPTY_CACHE = JSON.stringify({
  Account: {},
  IdToken: {},
  AccessToken: {},
  RefreshToken: {},
  AppMetadata: {},
});

interface Session {
  /** What Key Vault held when the session opened (undefined: no secret yet). */
  stored: StoredTokenCache | undefined;
  /** MSAL caches (one per client app) already given this session's content. */
  readonly loaded: WeakSet<object>;
  /** Set only while the token-cache lock is held. */
  readonly lock: HeldLock | undefined;
  tags: TokenCacheTags;
  writtenVersion?: string;
}

/**
 * MSAL cache plugin backed by one Key Vault secret. A credential opens a session per attempt: the
 * secret is read once when the session opens (MSAL calls `beforeCacheAccess` several times per
 * request; the first call in a session deserializes what was read into that app's cache, later calls change nothing, since
 * nobody else writes while the lock is held). `afterCacheAccess` writes a new secret version only when
 * MSAL reports a change (a refresh rotated the refresh token) and only while the lock is held, after
 * confirming the lease is still ours. A change outside a locked session is not persisted.
 */
export class KeyVaultCachePlugin implements ICachePlugin {
  private session: Session | undefined;

  constructor(
    private readonly store: TokenCacheStore,
    private readonly logger: AuthLogger,
  ) {}

  /** Reads the secret and starts a session; pass the held lock to allow writes. */
  async openSession(lock?: HeldLock): Promise<StoredTokenCache | undefined> {
    const stored = await this.store.read();
    this.session = { stored, loaded: new WeakSet(), lock, tags: { ...(stored?.tags ?? {}) } };
    return stored;
  }

  /** Tags to write with the next version (e.g. a corrected client type). */
  updateTags(tags: TokenCacheTags): void {
    if (this.session) this.session.tags = { ...this.session.tags, ...tags };
  }

  /** Version written during the current session, if any. */
  get writtenVersion(): string | undefined {
    return this.session?.writtenVersion;
  }

  closeSession(): void {
    this.session = undefined;
  }

  async beforeCacheAccess(context: TokenCacheContext): Promise<void> {
    const session = this.session;
    if (session) {
      if (session.loaded.has(context.tokenCache)) return;
      context.tokenCache.deserialize(session.stored?.value ?? EMPTY_CACHE);
      session.loaded.add(context.tokenCache);
      return;
    }
    // Outside a session (a background task MSAL started): start from what Key Vault holds now.
    const stored = await this.store.read();
    context.tokenCache.deserialize(stored?.value ?? EMPTY_CACHE);
  }

  async afterCacheAccess(context: TokenCacheContext): Promise<void> {
    if (!context.cacheHasChanged) return;
    const session = this.session;
    if (!session?.lock) {
      this.logger.log("verbose", "token cache changed outside a locked session; not stored");
      return;
    }
    await session.lock.confirm();
    const value = context.tokenCache.serialize();
    const tags: TokenCacheTags = {
      ...session.tags,
      account: accountOf(value) ?? session.tags.account ?? "",
      updatedAt: new Date().toISOString(),
    };
    const version = await this.store.write(value, tags);
    session.stored = { value, tags, ...(version === undefined ? {} : { version }) };
    if (version !== undefined) session.writtenVersion = version;
    this.logger.log(
      "info",
      `token cache stored in Key Vault secret '${this.store.secretName}' (version ${version ?? "?"})`,
    );
  }
}

/** Username of the (first) account in a serialized MSAL cache. */
export function accountOf(serialized: string): string | undefined {
  try {
    const parsed = JSON.parse(serialized) as { Account?: Record<string, { username?: unknown }> };
    const first = Object.values(parsed.Account ?? {})[0];
    return typeof first?.username === "string" ? first.username : undefined;
  } catch {
    return undefined;
  }
}
