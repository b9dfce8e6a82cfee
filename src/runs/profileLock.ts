import type { ContainerClient } from "@azure/storage-blob";
import { silentLogger, type Logger } from "../logging/logger.js";
import { isStatus } from "./runStore.js";

export const LOCK_LEASE_SECONDS = 60;
export const LOCK_RENEW_INTERVAL_MS = 20_000;

export interface ProfileLockOptions {
  readonly leaseSeconds?: number;
  readonly renewIntervalMs?: number;
  readonly logger?: Logger;
}

/** A held profile lock. `signal` aborts when the lease is lost, so the export stops writing. */
export interface ProfileLock {
  readonly profile: string;
  readonly signal: AbortSignal;
  /** Called after each successful renewal (the run's heartbeat). */
  onRenew(listener: () => void): void;
  /**
   * Renews the lease now and throws if it is lost (aborting `signal`): called before each change
   * to `latest/`, so a holder that lost the profile never writes there after another took it.
   */
  confirm(): Promise<void>;
  release(): Promise<void>;
}

export function lockBlobName(profile: string): string {
  return `profile-${profile}.lock`;
}

/**
 * Per-profile mutual exclusion across instances: a blob lease on `export-locks/profile-{name}.lock`,
 * renewed while the export runs. A crashed holder's lease simply expires.
 */
export class ProfileLocks {
  private readonly leaseSeconds: number;
  private readonly renewIntervalMs: number;
  private readonly logger: Logger;

  constructor(
    readonly container: ContainerClient,
    options: ProfileLockOptions = {},
  ) {
    this.leaseSeconds = options.leaseSeconds ?? LOCK_LEASE_SECONDS;
    this.renewIntervalMs = options.renewIntervalMs ?? LOCK_RENEW_INTERVAL_MS;
    this.logger = options.logger ?? silentLogger;
  }

  /** Takes the profile's lock, or returns undefined when another run holds it. */
  async tryAcquire(profile: string, owner: string): Promise<ProfileLock | undefined> {
    const blob = this.container.getBlockBlobClient(lockBlobName(profile));
    try {
      await blob.upload("", 0, { conditions: { ifNoneMatch: "*" } });
    } catch (error) {
      // 409/412: the lock blob exists already (possibly leased), which is the normal case.
      if (!isStatus(error, 409) && !isStatus(error, 412)) throw error;
    }
    const lease = blob.getBlobLeaseClient();
    try {
      await lease.acquireLease(this.leaseSeconds);
    } catch (error) {
      if (isStatus(error, 409)) return undefined;
      // No answer: the lease may exist all the same, and the profile would stay locked until it
      // expired. Released by the id the lease client proposed (a lease never granted: ignored).
      if (typeof (error as { statusCode?: unknown } | null)?.statusCode !== "number")
        await lease.releaseLease({ abortSignal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      throw error;
    }
    // Who holds the lock, for whoever finds it taken.
    await blob.setMetadata({ owner }, { conditions: { leaseId: lease.leaseId } }).catch(() => undefined);

    const abort = new AbortController();
    const listeners: (() => void)[] = [];
    let lastRenewed = Date.now();
    let released = false;
    const log = this.logger.child({ profile, lock: lockBlobName(profile) });

    const renew = async (): Promise<void> => {
      try {
        await lease.renewLease();
        lastRenewed = Date.now();
        for (const listener of listeners) listener();
      } catch (error) {
        if (released) return;
        const lost = isStatus(error, 409) || isStatus(error, 412);
        // A transient failure is retried on the next tick until the lease may have run out.
        if (lost || Date.now() - lastRenewed > (this.leaseSeconds - 5) * 1000) {
          log.error("Profile lock lost; stopping the export", { error });
          abort.abort(new Error(`the lock on profile ${profile} was lost`));
          clearInterval(timer);
        } else {
          log.warn("Could not renew the profile lock; retrying", { error });
        }
      }
    };
    const timer = setInterval(() => void renew(), this.renewIntervalMs);

    return {
      profile,
      signal: abort.signal,
      onRenew(listener) {
        listeners.push(listener);
      },
      async confirm() {
        const lostError = (): DOMException =>
          new DOMException(`the lock on profile ${profile} was lost`, "AbortError");
        if (abort.signal.aborted) throw lostError();
        try {
          await lease.renewLease();
          lastRenewed = Date.now();
        } catch (error) {
          if (!isStatus(error, 409) && !isStatus(error, 412)) throw error;
          log.error("Profile lock lost; stopping the export", { error });
          abort.abort(new Error(`the lock on profile ${profile} was lost`));
          clearInterval(timer);
          throw lostError();
        }
      },
      async release() {
        if (released) return;
        released = true;
        clearInterval(timer);
        try {
          await lease.releaseLease();
        } catch (error) {
          // The lease expires on its own within leaseSeconds.
          log.warn("Could not release the profile lock", { error });
        }
      },
    };
  }

  /** The run id recorded by the current holder, when the lock is taken. */
  async holder(profile: string): Promise<string | undefined> {
    try {
      const props = await this.container.getBlockBlobClient(lockBlobName(profile)).getProperties();
      return props.leaseState === "leased" ? props.metadata?.owner : undefined;
    } catch {
      return undefined;
    }
  }
}
