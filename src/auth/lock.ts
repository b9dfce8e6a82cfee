import { isRestError } from "@azure/core-rest-pipeline";
import type { BlobLeaseClient, ContainerClient } from "@azure/storage-blob";
import { throwIfAborted, type OperationContext } from "./context.js";
import { AuthError } from "./errors.js";
import type { AuthLogger } from "./logging.js";
import { sleep } from "./retry.js";

/** A held lease; `confirm` renews it and fails if it was lost, so a write never follows a lost lock. */
export interface HeldLock {
  confirm(): Promise<void>;
}

/**
 * Serialises "load cache -> refresh -> write back" across workers and hosts with a blob lease on
 * `export-locks/token-cache.lock`. The blob (and container) are created when missing. Waiting is
 * bounded by the operation's deadline; the lease is renewed while held and released in `finally`.
 */
export class TokenCacheLock {
  constructor(
    private readonly container: ContainerClient,
    private readonly blobName: string,
    private readonly leaseSeconds: number,
    private readonly logger: AuthLogger,
  ) {}

  async run<T>(context: OperationContext, fn: (held: HeldLock) => Promise<T>): Promise<T> {
    const lease = await this.acquire(context);
    let lost: unknown;
    const renew = setInterval(
      () => {
        lease.renewLease().catch((error: unknown) => {
          lost = error;
        });
      },
      (this.leaseSeconds * 1000) / 3,
    );
    renew.unref();
    const held: HeldLock = {
      confirm: async () => {
        if (lost !== undefined) throw lockLost(this.blobName, lost);
        try {
          await lease.renewLease({ abortSignal: context.signal });
        } catch (error) {
          throw lockLost(this.blobName, error);
        }
      },
    };
    try {
      return await fn(held);
    } finally {
      clearInterval(renew);
      // Released even when the operation was aborted, so the next worker does not wait out the lease.
      await lease.releaseLease().catch((error: unknown) => {
        this.logger.log(
          "warning",
          `could not release the token-cache lock (${describe(error)}); it expires within ${this.leaseSeconds} s`,
        );
      });
    }
  }

  private async acquire(context: OperationContext): Promise<BlobLeaseClient> {
    const blob = this.container.getBlockBlobClient(this.blobName);
    let waited = 0;
    let created = 0;
    for (let attempt = 0; attempt < 1000; attempt++) {
      throwIfAborted(context);
      const lease = blob.getBlobLeaseClient();
      try {
        await lease.acquireLease(this.leaseSeconds, { abortSignal: context.signal });
        if (waited > 0) this.logger.log("info", `token-cache lock acquired after waiting ${waited} ms`);
        return lease;
      } catch (error) {
        // No answer (aborted, timed out, connection lost): storage may have granted the lease all the
        // same, and then every worker would wait for it to expire. The lease client knows the id it
        // proposed, so it releases it; a release of a lease never granted fails and is ignored.
        if (!isRestError(error) || error.statusCode === undefined)
          await lease.releaseLease({ abortSignal: AbortSignal.timeout(5_000) }).catch(() => undefined);
        throwIfAborted(context);
        if (isRestError(error) && error.statusCode === 404 && created < 3) {
          created++;
          await this.createLockBlob(context);
          continue;
        }
        if (isRestError(error) && error.statusCode === 409 && error.code === "LeaseAlreadyPresent") {
          const delay = Math.min(2000, 100 * 1.5 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2);
          if (Date.now() + delay >= context.deadline) {
            throw new AuthError(
              "lock",
              `Timed out after ${waited} ms waiting for the token-cache lock (blob ${this.container.containerName}/${this.blobName}); another worker is refreshing the Partner Center sign-in`,
            );
          }
          if (waited === 0) this.logger.log("info", "token-cache lock is held by another worker; waiting");
          await sleep(delay, context.signal).catch(() => undefined);
          waited += Math.round(delay);
          continue;
        }
        throw new AuthError(
          "lock",
          `Could not lease the token-cache lock (blob ${this.container.containerName}/${this.blobName}): ${describe(error)}`,
          {
            cause: error,
          },
        );
      }
    }
    throw new AuthError(
      "lock",
      `Gave up on the token-cache lock (blob ${this.container.containerName}/${this.blobName}) after 1000 attempts`,
    );
  }

  private async createLockBlob(context: OperationContext): Promise<void> {
    const blob = this.container.getBlockBlobClient(this.blobName);
    const upload = (): Promise<unknown> =>
      blob.upload("", 0, { conditions: { ifNoneMatch: "*" }, abortSignal: context.signal });
    try {
      await upload();
    } catch (error) {
      if (isRestError(error) && (error.statusCode === 409 || error.statusCode === 412)) return;
      if (isRestError(error) && error.statusCode === 404) {
        await this.container.createIfNotExists({ abortSignal: context.signal });
        await upload().catch((again: unknown) => {
          if (!(isRestError(again) && (again.statusCode === 409 || again.statusCode === 412))) throw again;
        });
        return;
      }
      throw error;
    }
  }
}

function lockLost(blobName: string, cause: unknown): AuthError {
  return new AuthError(
    "lock",
    `Lost the token-cache lock (${blobName}) before the refreshed cache could be stored: ${describe(cause)}`,
    {
      cause,
    },
  );
}

function describe(error: unknown): string {
  if (isRestError(error))
    return `HTTP ${error.statusCode ?? "no response"}${error.code ? ` ${error.code}` : ""}`;
  return error instanceof Error ? (error.message.split("\n")[0] ?? error.name) : String(error);
}
