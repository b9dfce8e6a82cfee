import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { createPartnerCenterCredential } from "../auth/credential.js";
import {
  beginAppConsent,
  completeAppConsent,
  type ConsentReply,
  type ConsentRequest,
} from "../auth/appConsent.js";
import type { ConsentOutcome } from "../auth/consent.js";
import { isConsentRequired } from "../auth/errors.js";
import { PARTNER_CENTER_SCOPE } from "../auth/options.js";
import { getAuthStatus, type AuthStatusReport } from "../auth/status.js";
import { redact } from "../common/redact.js";
import { trustLocalCa } from "../config/localTrust.js";
import type { Settings } from "../config/settings.js";
import type { ExportEnvironment } from "../export/exporter.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { openTelemetryRunTelemetry, type ConsentEvent, type RunTelemetry } from "../logging/telemetry.js";
import { PartnerCenterClient } from "../partnerCenter/client.js";
import { JobQueue } from "../runs/jobQueue.js";
import { ProfileLocks } from "../runs/profileLock.js";
import { createReadLinkSigner, type ReadLinkSigner } from "../runs/readLinks.js";
import { RunService } from "../runs/runService.js";
import { RunStore } from "../runs/runStore.js";
import { authOptionsFromSettings } from "./authOptions.js";

export const RUNS_CONTAINER = "export-runs";
export const LOCKS_CONTAINER = "export-locks";
export const JOB_QUEUE = "export-jobs";

/** The stored consent as the daily consent report and the health endpoint show it. Holds no token. */
export interface ConsentStatus extends ConsentEvent {
  readonly state: "ok" | "consent_required" | "error";
  /** What is wrong and what to do (redacted); empty when the state is ok. */
  readonly message: string;
}

/**
 * The one composition root: settings in, the wired product out. The Functions entry point, the
 * CLI, the dev host, the tests and the benchmark all build the app here, so every door runs the
 * same run service over the same storage layout.
 */
export interface App {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly blobService: BlobServiceClient;
  readonly queueService: QueueServiceClient;
  readonly exportContainer: ContainerClient;
  readonly runsContainer: ContainerClient;
  readonly locksContainer: ContainerClient;
  /** Queue the worker listens on (`export-jobs` in Azure). */
  readonly jobQueueName: string;
  readonly jobs: JobQueue;
  readonly store: RunStore;
  readonly locks: ProfileLocks;
  /** Records, queues and runs exports: what every door calls. */
  readonly runs: RunService;
  /** Signs the status API's read links; absent while HTTP_READ_LINK_MINUTES is 0. */
  readonly readLinks?: ReadLinkSigner;
  /** Where run and consent events go (OpenTelemetry's global logger provider unless a test hands one in). */
  readonly telemetry: RunTelemetry;
  /** The app's clock (tests set it through AppOptions). */
  readonly now: () => Date;
  /**
   * The stored sign-in's state, as `auth status` reports it: who signed in, when it was last
   * refreshed, and whether a Partner Center token can be obtained now (which may refresh it).
   */
  consent(): Promise<ConsentStatus>;
  /** Starts a consent that only this app's confidential client can finish (POST /api/consent). */
  beginConsent(request: {
    readonly redirectUri: string;
    readonly requestedBy: string;
  }): Promise<ConsentRequest>;
  /** Finishes it at the redirect URI: redeems the code and stores the token cache in Key Vault. */
  completeConsent(reply: ConsentReply): Promise<ConsentOutcome & { readonly requestedBy: string }>;
  /** The delegated Partner Center credential (MSAL with the token cache in Key Vault), built on first use. */
  partnerCenterCredential(): TokenCredential;
  /** The environment of one export run (client, container, settings) with per-run extras. */
  exportEnvironment(extra?: Partial<ExportEnvironment>): ExportEnvironment;
  /** Creates every container and queue when missing (Bicep creates them in Azure; Azurite starts empty). */
  ensureStorage(): Promise<void>;
}

export interface AppOptions {
  readonly logger?: Logger;
  /** Replaces the delegated credential (tests, the benchmark, the dev host's built-in simulator). */
  readonly partnerCenterCredential?: TokenCredential;
  /** Storage names; tests and side-by-side set-ups pick their own. */
  readonly runsContainer?: string;
  readonly locksContainer?: string;
  readonly jobQueue?: string;
  readonly lockRenewIntervalMs?: number;
  readonly lockLeaseSeconds?: number;
  readonly lockRetryDelaySeconds?: number;
  readonly now?: () => Date;
  /** Receives the run and consent events; default: OpenTelemetry log records (no-op until a provider is registered). */
  readonly telemetry?: RunTelemetry;
  /** Observes each publish into `latest/` (the process-kill tests stop a process at each step). */
  readonly onPublishStep?: ExportEnvironment["onPublishStep"];
}

export function createApp(settings: Settings, options: AppOptions = {}): App {
  // The simulator's local CA is trusted only in local mode (settings refuse the file otherwise).
  if (settings.localMode && settings.localCaCertFile) trustLocalCa(settings.localCaCertFile);
  const logger = options.logger ?? createLogger(settings.logLevel);
  const now = options.now ?? ((): Date => new Date());
  const telemetry = options.telemetry ?? openTelemetryRunTelemetry();

  let blobService: BlobServiceClient;
  let queueService: QueueServiceClient;
  if (settings.storage.kind === "connectionString") {
    blobService = BlobServiceClient.fromConnectionString(settings.storage.connectionString);
    queueService = QueueServiceClient.fromConnectionString(settings.storage.connectionString);
  } else {
    const credential = new DefaultAzureCredential();
    blobService = new BlobServiceClient(settings.storage.blobUrl, credential);
    queueService = new QueueServiceClient(settings.storage.queueUrl, credential);
  }
  const exportContainer = blobService.getContainerClient(settings.exportContainer);
  const runsContainer = blobService.getContainerClient(options.runsContainer ?? RUNS_CONTAINER);
  const locksContainer = blobService.getContainerClient(options.locksContainer ?? LOCKS_CONTAINER);
  const jobQueueName = options.jobQueue ?? JOB_QUEUE;

  let credential = options.partnerCenterCredential;
  const partnerCenterCredential = (): TokenCredential => {
    credential ??= createPartnerCenterCredential(authOptionsFromSettings(settings, locksContainer, logger));
    return credential;
  };
  const exportEnvironment = (extra: Partial<ExportEnvironment> = {}): ExportEnvironment => ({
    client: new PartnerCenterClient({
      baseUrl: settings.partnerCenterBaseUrl,
      credential: partnerCenterCredential(),
      pageSize: settings.pageSize,
      prefetchPages: settings.prefetchPages,
      maxRetries: settings.maxRetries,
      logger,
    }),
    container: exportContainer,
    logger,
    csvFormulaGuard: settings.csvFormulaGuard,
    csvBom: settings.csvBom,
    deadlineSeconds: settings.deadlineSeconds,
    onCountMismatch: settings.onCountMismatch,
    ...(options.onPublishStep ? { onPublishStep: options.onPublishStep } : {}),
    ...extra,
  });

  const jobs = new JobQueue(
    queueService.getQueueClient(jobQueueName),
    queueService.getQueueClient(`${jobQueueName}-poison`),
  );
  const store = new RunStore(runsContainer);
  const locks = new ProfileLocks(locksContainer, {
    logger,
    ...(options.lockRenewIntervalMs !== undefined ? { renewIntervalMs: options.lockRenewIntervalMs } : {}),
    ...(options.lockLeaseSeconds !== undefined ? { leaseSeconds: options.lockLeaseSeconds } : {}),
  });
  const runs = new RunService({
    store,
    queue: jobs,
    locks,
    profiles: settings.profiles,
    exportContainer,
    exportEnvironment,
    deadlineSeconds: settings.deadlineSeconds,
    limits: settings.limits,
    logger,
    telemetry,
    ...(options.now ? { now: options.now } : {}),
    ...(options.lockRetryDelaySeconds !== undefined
      ? { lockRetryDelaySeconds: options.lockRetryDelaySeconds }
      : {}),
  });
  // One signer per process, so its user delegation key is reused across requests.
  const readLinks =
    settings.httpReadLinkMinutes > 0
      ? createReadLinkSigner(blobService, exportContainer, {
          lifetimeMinutes: settings.httpReadLinkMinutes,
          // Azurite serves http; in Azure links are https only.
          allowHttp: settings.localMode && new URL(blobService.url).protocol === "http:",
          ...(options.now ? { now: options.now } : {}),
        })
      : undefined;

  return {
    settings,
    logger,
    blobService,
    queueService,
    exportContainer,
    runsContainer,
    locksContainer,
    jobQueueName,
    jobs,
    store,
    locks,
    runs,
    ...(readLinks ? { readLinks } : {}),
    telemetry,
    now,
    partnerCenterCredential,
    exportEnvironment,
    async consent() {
      const given = options.partnerCenterCredential;
      try {
        if (given) {
          // A credential handed in (tests, the dev host's simulator) has no stored sign-in to read.
          await given.getToken(PARTNER_CENTER_SCOPE);
          return { ...NO_SIGN_IN_DETAILS, state: "ok", message: "" };
        }
        const report = await getAuthStatus(authOptionsFromSettings(settings, locksContainer, logger));
        return consentStatusOf(report, now());
      } catch (error) {
        // The vault cannot be read, a sign-in setting is missing, or the handed-in credential failed.
        return {
          ...NO_SIGN_IN_DETAILS,
          state: isConsentRequired(error) ? "consent_required" : "error",
          message: redact(error instanceof Error ? error.message : String(error)),
        };
      }
    },
    beginConsent: (request) =>
      beginAppConsent(authOptionsFromSettings(settings, locksContainer, logger), { ...request, now: now() }),
    completeConsent: (reply) =>
      completeAppConsent(authOptionsFromSettings(settings, locksContainer, logger), reply, now()),
    async ensureStorage() {
      await Promise.all([
        exportContainer.createIfNotExists(),
        runsContainer.createIfNotExists(),
        locksContainer.createIfNotExists(),
        jobs.queue.createIfNotExists(),
        jobs.poisonQueue.createIfNotExists(),
      ]);
    },
  };
}

const NO_SIGN_IN_DETAILS = { account: "", lastRefreshAt: "", ageHours: -1, clientType: "" } as const;

function consentStatusOf(report: AuthStatusReport, now: Date): ConsentStatus {
  const refreshed = report.lastRefreshed;
  const details = {
    account: report.account ?? "",
    lastRefreshAt: refreshed?.toISOString() ?? "",
    // One decimal: enough for an alert on "not refreshed for N days".
    ageHours: refreshed ? Math.round((now.getTime() - refreshed.getTime()) / 360_000) / 10 : -1,
    clientType: report.clientType ?? "",
  };
  const token = report.token;
  if (token.ok) return { ...details, state: "ok", message: "" };
  return {
    ...details,
    state: token.consentRequired ? "consent_required" : "error",
    message: redact(token.explanation ? `${token.explanation}: ${token.message}` : token.message),
  };
}

/** The app, built once and with its storage prepared on first use; `current` is it once built. */
export type LazyApp = (() => Promise<App>) & { readonly current: () => App | undefined };

export function lazyApp(build: () => App): LazyApp {
  let ready: Promise<App> | undefined;
  let built: App | undefined;
  const get = (): Promise<App> => {
    ready ??= (async () => {
      const app = build();
      await app.ensureStorage();
      built = app;
      return app;
    })().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
  return Object.assign(get, { current: () => built });
}
