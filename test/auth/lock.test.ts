import {
  ContainerClient,
  newPipeline,
  StorageSharedKeyCredential,
  type RequestPolicy,
  type WebResource,
} from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { OperationContext } from "../../src/auth/context.js";
import type { AuthLogger } from "../../src/auth/logging.js";
import { TokenCacheLock } from "../../src/auth/lock.js";

/**
 * The token-cache lock when an answer from storage is lost: the lease may exist although the
 * worker that asked for it never learns its id. Left alone it would block every worker (and the
 * nightly run) until it expires.
 */
const LOCK_BLOB = "token-cache.lock";

function accountOf(connectionString: string): { name: string; key: string; url: string } {
  const parts = new Map(
    connectionString
      .split(";")
      .filter((p) => p.includes("="))
      .map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)] as const),
  );
  return {
    name: parts.get("AccountName") ?? "",
    key: parts.get("AccountKey") ?? "",
    url: parts.get("BlobEndpoint") ?? "",
  };
}

/** A container client whose next lease acquisition reaches storage, but whose answer is lost to `lose()`. */
function containerLosingAcquireAnswers(
  name: string,
  lose: () => Error,
): { container: ContainerClient; lost: () => number } {
  const account = accountOf(inject("azuriteConnectionString"));
  const pipeline = newPipeline(new StorageSharedKeyCredential(account.name, account.key), {
    retryOptions: { maxTries: 1 },
  });
  let lostAnswers = 0;
  pipeline.factories.push({
    create: (next: RequestPolicy): RequestPolicy => ({
      async sendRequest(request: WebResource) {
        const response = await next.sendRequest(request);
        if (request.headers.get("x-ms-lease-action") === "acquire" && lostAnswers === 0) {
          lostAnswers++;
          throw lose();
        }
        return response;
      },
    }),
  });
  return { container: new ContainerClient(`${account.url}/${name}`, pipeline), lost: () => lostAnswers };
}

function context(controller = new AbortController()): OperationContext {
  return {
    signal: controller.signal,
    deadline: Date.now() + 20_000,
    tokenRequestsAllowed: false,
    tokenRequestBlocked: false,
  };
}

describe("token-cache lock", () => {
  const name = `lock-lost-answers-${process.pid}`;
  const logs: string[] = [];
  const logger: AuthLogger = { log: (_level, message) => logs.push(message) };
  let plain: ContainerClient;

  beforeAll(async () => {
    const account = accountOf(inject("azuriteConnectionString"));
    plain = new ContainerClient(
      `${account.url}/${name}`,
      newPipeline(new StorageSharedKeyCredential(account.name, account.key)),
    );
    await plain.createIfNotExists();
    await plain.getBlockBlobClient(LOCK_BLOB).upload("", 0);
  });
  afterAll(async () => {
    await plain.deleteIfExists();
  });

  it("releases a lease whose acquisition was cancelled in flight, so the next run does not wait for it to expire", async () => {
    const controller = new AbortController();
    const flaky = containerLosingAcquireAnswers(name, () => {
      controller.abort(); // the export that needed the token was cancelled while the lease was being taken
      return Object.assign(new Error("The operation was aborted."), { name: "AbortError" });
    });
    const lock = new TokenCacheLock(flaky.container, LOCK_BLOB, 60, logger);
    await expect(lock.run(context(controller), () => Promise.resolve("never"))).rejects.toMatchObject({
      reason: "aborted",
    });
    expect(flaky.lost()).toBe(1);
    expect((await plain.getBlockBlobClient(LOCK_BLOB).getProperties()).leaseState).toBe("available");

    logs.length = 0;
    const next = new TokenCacheLock(plain, LOCK_BLOB, 60, logger);
    await expect(next.run(context(), () => Promise.resolve("refreshed"))).resolves.toBe("refreshed");
    expect(logs.filter((l) => l.includes("held by another worker"))).toEqual([]);
  });

  it("after a lost answer without a cancellation, reports the storage failure and leaves no lease behind", async () => {
    const flaky = containerLosingAcquireAnswers(name, () => new Error("socket hang up"));
    const lock = new TokenCacheLock(flaky.container, LOCK_BLOB, 60, logger);
    await expect(lock.run(context(), () => Promise.resolve("never"))).rejects.toThrow(
      /Could not lease the token-cache lock .*socket hang up/,
    );
    expect((await plain.getBlockBlobClient(LOCK_BLOB).getProperties()).leaseState).toBe("available");
  });

  it("a lease held by another worker is left alone: the run waits for it", async () => {
    const foreign = plain.getBlockBlobClient(LOCK_BLOB).getBlobLeaseClient();
    await foreign.acquireLease(15);
    try {
      const lock = new TokenCacheLock(plain, LOCK_BLOB, 60, logger);
      const deadline: OperationContext = { ...context(), deadline: Date.now() + 1_500 };
      await expect(lock.run(deadline, () => Promise.resolve("never"))).rejects.toMatchObject({
        reason: "lock",
      });
      expect((await plain.getBlockBlobClient(LOCK_BLOB).getProperties()).leaseState).toBe("leased");
    } finally {
      await foreign.releaseLease();
    }
  });
});
