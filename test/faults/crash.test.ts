import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { buildProduct, type Built } from "../support/builtProduct.js";
import { FIXTURE_SECRETS, findCredentials, recordOutput } from "../support/canary.js";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { createApp } from "../../src/app/app.js";
import { LOCK_LEASE_SECONDS, lockBlobName } from "../../src/runs/profileLock.js";
import { createLogger } from "../../src/logging/logger.js";
import type { Referral } from "../../src/simulator/dataset.js";
import { startLocalCloud, type LocalCloud } from "../../src/simulator/localCloud.js";
import { tokensIssuedInProcess } from "../../src/simulator/tokenRegistry.js";
import { LOCKS_CONTAINER } from "../../src/app/app.js";
import {
  expectLatestConsistent,
  expectPublished,
  expectUnchanged,
  runManifests,
  storageSnapshot,
  waitFor,
} from "./harness.js";

/**
 * The `referrals-export export` process killed with SIGKILL in the middle of an export (after its
 * first page), as an out-of-memory kill or a recycled host would. The CLI runs as a real child
 * process, built from src/, against the simulated cloud with the delegated sign-in in Key Vault.
 */
const PROFILE = "faults-crash";
const CACHE_SECRET = "partner-center-token-cache";
/** A run that does not exit by itself within this is hanging on a handle it never closed. */
const EXIT_WITHIN_MS = 60_000;

let built: Built;
let mainJs: string;
let cloud: LocalCloud;
let env: Record<string, string>;
let container: ContainerClient;
let locks: ContainerClient;
/** stdout and stderr of every child process. */
const childOutput: string[] = [];

beforeAll(async () => {
  // Build into a private folder (beside a package.json and node_modules link), not over dist/.
  built = await buildProduct();
  mainJs = join(built.dist, "cli", "main.js");
  expect(existsSync(mainJs), "the CLI was built").toBe(true);

  // Slow pages (300 ms each, 1,000 rows a page, six pages) leave time to kill the run mid-export.
  cloud = await startLocalCloud({
    rows: 6_000,
    seed: 9,
    latencyMs: 300,
    registry: { accessTokenLifetimeSeconds: 120 },
  });
  env = {
    ...cloud.settingsEnv(),
    EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
    EXPORT_CONTAINER: `faults-crash-${process.pid}`,
    EXPORT_PROFILES: JSON.stringify([{ name: PROFILE }]),
    EXPORT_PAGE_SIZE: "1000",
    EXPORT_PREFETCH_PAGES: "1",
    LOG_LEVEL: "debug",
  };
  const blobs = BlobServiceClient.fromConnectionString(env.EXPORT_STORAGE_CONNECTION_STRING!);
  container = blobs.getContainerClient(env.EXPORT_CONTAINER!);
  locks = blobs.getContainerClient(LOCKS_CONTAINER);

  // Consent once, in this process (the device-code flow is approved by the simulator).
  for (const key of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
    process.env[key] = env[key];
  const io: CliIo = { interactive: false, out: recordOutput, err: recordOutput };
  const login = await runCli(["auth", "login", "--device-code"], env, io, {
    openApp: (s) =>
      createApp(s, {
        logger: createLogger("debug", (line) => {
          recordOutput(`${line}\n`);
        }),
      }),
  });
  expect(login).toBe(0);
}, 120_000);

afterAll(async () => {
  await cloud.close();
  await built.remove();
});

interface ChildRun {
  readonly kill: (signal: NodeJS.Signals) => void;
  readonly done: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    out: string;
    err: string;
    ms: number;
  }>;
}

/** Starts `node dist/cli/main.js ARGS` with only the product's settings in its environment. */
function startCli(args: string[]): ChildRun {
  const started = Date.now();
  const child = spawn(process.execPath, [mainJs, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    out: string;
    err: string;
    ms: number;
  }>((resolveDone, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the CLI did not exit by itself within ${EXIT_WITHIN_MS} ms`));
    }, EXIT_WITHIN_MS);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      recordOutput(out + err);
      childOutput.push(out, err);
      resolveDone({ code, signal, out, err, ms: Date.now() - started });
    });
  });
  return { kill: (signal) => child.kill(signal), done };
}

/** stderr without its JSON log lines (the CLI logs there, at every level): the messages a person reads. */
const messages = (err: string): string =>
  err
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith('{"ts":'))
    .join("\n");

const expectedRows = (): Referral[] =>
  Array.from({ length: cloud.dataset.size }, (_, i) => cloud.dataset.get(i));
const lockBlob = () => locks.getBlockBlobClient(lockBlobName(PROFILE));

/** The stored sign-in parses and holds exactly one account with a refresh token. */
function expectSignInIntact(): void {
  const cache = JSON.parse(cloud.vault.current(CACHE_SECRET)!.value) as {
    Account: Record<string, unknown>;
    RefreshToken: Record<string, unknown>;
  };
  expect(Object.keys(cache.Account)).toHaveLength(1);
  expect(Object.keys(cache.RefreshToken).length).toBeGreaterThan(0);
}

describe("the CLI killed (SIGKILL) mid-export", () => {
  it("a first run publishes and the process exits by itself", async () => {
    const run = await startCli(["export", "--profile", PROFILE]).done;
    expect(messages(run.err)).toBe("");
    expect(run.out).not.toMatch(/"msg":/);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/succeeded: 6,000 rows in \d page\(s\)/);
    const storage = await storageSnapshot(container);
    expect(expectLatestConsistent(storage, PROFILE).rowCount).toBe(6_000);
    // No profile lock is left behind by a run that finished.
    expect((await lockBlob().getProperties()).leaseState).toBe("available");
  });

  it("after a kill: no manifest of the killed run, latest/ as it was, the sign-in intact; the profile is busy until its lock expires, then the next run publishes", async () => {
    const before = await storageSnapshot(container);
    const requests = cloud.partnerCenter.referralsRequestCount;
    const run = startCli(["export", "--profile", PROFILE]);
    // Page 2 requested: page 1 was fetched and went into the open uploads.
    await waitFor(() => cloud.partnerCenter.referralsRequestCount >= requests + 2, 30_000, "page 2");
    run.kill("SIGKILL");
    const killed = await run.done;
    expect(killed.signal).toBe("SIGKILL");
    expect(killed.out).not.toMatch(/succeeded/);

    // Storage: nothing of the killed run visible, latest/ byte for byte as it was.
    const after = await storageSnapshot(container);
    expectUnchanged(before, after);
    expect(runManifests(after)).toEqual(runManifests(before));
    expect(after.uncommitted).toEqual([]);
    expectLatestConsistent(after, PROFILE);
    expectSignInIntact();

    // The killed run's profile lock is still leased (a 60 s lease nobody renews any more).
    const lock = await lockBlob().getProperties();
    expect(lock.leaseState).toBe("leased");
    expect(lock.leaseDuration).toBe("fixed");
    expect(lock.metadata?.owner).toMatch(/^cli:\d{8}T\d{6}Z-[a-z0-9]{6}$/);
    expect(LOCK_LEASE_SECONDS).toBe(60);

    // So the next run says who holds the profile and that the lock frees itself; it asks nothing upstream.
    const requestsBeforeBusy = cloud.partnerCenter.referralsRequestCount;
    const busy = await startCli(["export", "--profile", PROFILE]).done;
    expect(busy.code).toBe(1);
    expect(busy.err).toContain(
      `Another export of profile '${PROFILE}' is running (${lock.metadata?.owner ?? ""}); try again when it has finished. If that run was stopped or crashed, its lock expires within 60 s.`,
    );
    expect(cloud.partnerCenter.referralsRequestCount).toBe(requestsBeforeBusy);
    expectUnchanged(before, await storageSnapshot(container));

    // The lease running out (broken here rather than waited for): the next run publishes and exits by itself.
    await lockBlob().getBlobLeaseClient().breakLease(0);
    const next = await startCli(["export", "--profile", PROFILE]).done;
    expect(messages(next.err)).toBe("");
    expect(next.code).toBe(0);
    expect(next.ms).toBeLessThan(EXIT_WITHIN_MS);
    expectPublished(after, await storageSnapshot(container), PROFILE, expectedRows());
    expectSignInIntact();
    expect((await lockBlob().getProperties()).leaseState).toBe("available");
    const status = await startCli(["auth", "status"]).done;
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/partner\.admin@contoso\.example/);
  });

  it("no child process printed a token, refresh token or secret (debug logging on)", () => {
    const text = childOutput.join("\n");
    expect(text).toMatch(/"msg":"Export started"/);
    expect(tokensIssuedInProcess().length).toBeGreaterThan(2);
    const secrets = [...tokensIssuedInProcess(), ...FIXTURE_SECRETS, env.AZURE_CLIENT_SECRET!];
    expect(findCredentials(text, secrets)).toEqual([]);
  });
});
