import azureFunctions, {
  type HttpFunctionOptions,
  type HttpMethod,
  type InvocationContext,
  type StorageQueueFunctionOptions,
  type TimerFunctionOptions,
} from "@azure/functions";
import { createPartnerCenterCredential } from "../auth/credential.js";
import type { Settings } from "../config/settings.js";
import { JobQueue } from "../export/jobQueue.js";
import { ProfileLocks } from "../export/profileLock.js";
import { createReadLinkSigner, type ReadLinkSigner } from "../export/readLinks.js";
import { RunService } from "../export/runService.js";
import { RunStore } from "../export/runStore.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { authOptionsFromSettings } from "../wiring/authOptions.js";
import {
  JOB_QUEUE,
  LOCKS_CONTAINER,
  RUNS_CONTAINER,
  type ServiceOverrides,
  type Services,
} from "../wiring/services.js";

/** What the trigger adapters need: settings, the SDK clients and the run core. */
export interface FunctionRuntime {
  readonly settings: Settings;
  readonly services: Services;
  readonly runs: RunService;
  readonly jobs: JobQueue;
  readonly store: RunStore;
  readonly locks: ProfileLocks;
  /** Signs the status API's read links; absent while HTTP_READ_LINK_MINUTES is 0. */
  readonly readLinks?: ReadLinkSigner;
}

/** Hands out the runtime; the first call may create containers and queues. */
export type RuntimeProvider = () => Promise<FunctionRuntime>;

/**
 * What each trigger file builds its functions from. Settings are at hand synchronously, so
 * bad input is refused before any storage client is touched.
 */
export interface FunctionHost {
  readonly settings: Settings;
  readonly runtime: RuntimeProvider;
  /** Queue the worker listens on (`export-jobs` in Azure). */
  readonly jobQueueName: string;
  /** Aborts running exports when the host shuts down (the dev host; Azure has no such signal). */
  readonly abortSignal?: AbortSignal;
}

export interface RuntimeOptions {
  /** Storage names; tests and side-by-side setups pick their own. */
  readonly runsContainer?: string;
  readonly locksContainer?: string;
  readonly jobQueue?: string;
  readonly lockRenewIntervalMs?: number;
  readonly lockLeaseSeconds?: number;
  readonly lockRetryDelaySeconds?: number;
  readonly now?: () => Date;
}

/** Services get the delegated Partner Center credential: MSAL with the token cache kept in Key Vault. */
export function delegatedCredentialOverrides(logger: Logger): ServiceOverrides {
  return {
    logger,
    createPartnerCenterCredential: (settings, locks) =>
      createPartnerCenterCredential(authOptionsFromSettings(settings, locks, logger)),
  };
}

export function createFunctionRuntime(services: Services, options: RuntimeOptions = {}): FunctionRuntime {
  const { settings, blobService, queueService } = services;
  const queueName = options.jobQueue ?? JOB_QUEUE;
  const jobs = new JobQueue(
    queueService.getQueueClient(queueName),
    queueService.getQueueClient(`${queueName}-poison`),
  );
  const store = new RunStore(blobService.getContainerClient(options.runsContainer ?? RUNS_CONTAINER));
  const locks = new ProfileLocks(blobService.getContainerClient(options.locksContainer ?? LOCKS_CONTAINER), {
    logger: services.logger,
    ...(options.lockRenewIntervalMs !== undefined ? { renewIntervalMs: options.lockRenewIntervalMs } : {}),
    ...(options.lockLeaseSeconds !== undefined ? { leaseSeconds: options.lockLeaseSeconds } : {}),
  });
  const runs = new RunService({
    store,
    queue: jobs,
    locks,
    profiles: settings.profiles,
    exportContainer: services.exportContainer,
    exportEnvironment: (extra) => services.exportEnvironment(extra),
    deadlineSeconds: settings.deadlineSeconds,
    logger: services.logger,
    ...(options.now ? { now: options.now } : {}),
    ...(options.lockRetryDelaySeconds !== undefined
      ? { lockRetryDelaySeconds: options.lockRetryDelaySeconds }
      : {}),
  });
  // One signer per process, so its user delegation key is reused across requests.
  const readLinks =
    settings.httpReadLinkMinutes > 0
      ? createReadLinkSigner(blobService, services.exportContainer, {
          lifetimeMinutes: settings.httpReadLinkMinutes,
          // Azurite serves http; in Azure links are https only.
          allowHttp: settings.localMode && new URL(blobService.url).protocol === "http:",
          ...(options.now ? { now: options.now } : {}),
        })
      : undefined;
  return { settings, services, runs, jobs, store, locks, ...(readLinks ? { readLinks } : {}) };
}

/** Creates every container and queue the runtime uses (Bicep creates them in Azure; Azurite starts empty). */
export async function ensureRuntimeStorage(runtime: FunctionRuntime): Promise<void> {
  await Promise.all([
    runtime.services.exportContainer.createIfNotExists(),
    runtime.store.container.createIfNotExists(),
    runtime.locks.container.createIfNotExists(),
    runtime.jobs.queue.createIfNotExists(),
    runtime.jobs.poisonQueue.createIfNotExists(),
  ]);
}

/** A provider that builds the runtime once and prepares storage on first use (retried after a failure). */
export function lazyRuntime(build: () => FunctionRuntime): RuntimeProvider {
  let ready: Promise<FunctionRuntime> | undefined;
  return () => {
    ready ??= (async () => {
      const runtime = build();
      await ensureRuntimeStorage(runtime);
      return runtime;
    })().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
}

/**
 * A logger whose lines go through the invocation's context, so the Functions host files them
 * under the invocation (and Application Insights can correlate them).
 */
export function invocationLogger(context: InvocationContext, level: Settings["logLevel"]): Logger {
  return createLogger(
    level,
    (line, lvl) => {
      if (lvl === "error") context.error(line);
      else if (lvl === "warn") context.warn(line);
      else if (lvl === "debug") context.debug(line);
      else context.info(line);
    },
    { invocationId: context.invocationId, function: context.functionName },
  );
}

/** One function as both registries see it: Azure Functions (`app.*`) and the dev host's table. */
export type FunctionDefinition =
  | {
      readonly kind: "http";
      readonly name: string;
      readonly options: HttpFunctionOptions & { readonly route: string; readonly methods: HttpMethod[] };
    }
  | { readonly kind: "timer"; readonly name: string; readonly options: TimerFunctionOptions }
  | { readonly kind: "storageQueue"; readonly name: string; readonly options: StorageQueueFunctionOptions };

/** Registers the definitions with the Azure Functions host. */
export function registerFunctions(definitions: readonly FunctionDefinition[]): void {
  const { app } = azureFunctions;
  for (const definition of definitions) {
    switch (definition.kind) {
      case "http":
        app.http(definition.name, definition.options);
        break;
      case "timer":
        app.timer(definition.name, definition.options);
        break;
      case "storageQueue":
        app.storageQueue(definition.name, definition.options);
        break;
    }
  }
}
