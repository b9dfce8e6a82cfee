import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import type { Settings } from "../config/settings.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { PartnerCenterClient } from "../partnerCenter/client.js";
import type { ExportEnvironment } from "../export/exporter.js";

export const RUNS_CONTAINER = "export-runs";
export const LOCKS_CONTAINER = "export-locks";
export const JOB_QUEUE = "export-jobs";

/** Everything the doors (CLI, Functions, dev host) need, built once from settings. */
export interface Services {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly blobService: BlobServiceClient;
  readonly queueService: QueueServiceClient;
  readonly exportContainer: ContainerClient;
  readonly runsContainer: ContainerClient;
  readonly locksContainer: ContainerClient;
  /** Creates the containers and the job queue when missing (Bicep creates them in Azure). */
  ensureStorage(): Promise<void>;
  partnerCenterCredential(): TokenCredential;
  exportEnvironment(extra?: Partial<ExportEnvironment>): ExportEnvironment;
}

export interface ServiceOverrides {
  readonly logger?: Logger;
  /** Replaces the delegated credential (tests of the export core only). */
  readonly partnerCenterCredential?: TokenCredential;
  /** Builds the delegated credential; the auth module supplies it. */
  readonly createPartnerCenterCredential?: (settings: Settings, locks: ContainerClient) => TokenCredential;
}

export function createServices(settings: Settings, overrides: ServiceOverrides = {}): Services {
  const logger = overrides.logger ?? createLogger(settings.logLevel);
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
  const runsContainer = blobService.getContainerClient(RUNS_CONTAINER);
  const locksContainer = blobService.getContainerClient(LOCKS_CONTAINER);

  let credential: TokenCredential | undefined = overrides.partnerCenterCredential;
  const partnerCenterCredential = (): TokenCredential => {
    if (credential) return credential;
    if (!overrides.createPartnerCenterCredential)
      throw new Error("no Partner Center credential is configured");
    credential = overrides.createPartnerCenterCredential(settings, locksContainer);
    return credential;
  };

  return {
    settings,
    logger,
    blobService,
    queueService,
    exportContainer,
    runsContainer,
    locksContainer,
    async ensureStorage() {
      await Promise.all([
        exportContainer.createIfNotExists(),
        runsContainer.createIfNotExists(),
        locksContainer.createIfNotExists(),
        queueService.getQueueClient(JOB_QUEUE).createIfNotExists(),
        queueService.getQueueClient(`${JOB_QUEUE}-poison`).createIfNotExists(),
      ]);
    },
    partnerCenterCredential,
    exportEnvironment(extra = {}) {
      const client = new PartnerCenterClient({
        baseUrl: settings.partnerCenterBaseUrl,
        credential: partnerCenterCredential(),
        pageSize: settings.pageSize,
        prefetchPages: settings.prefetchPages,
        maxRetries: settings.maxRetries,
        logger,
      });
      return {
        client,
        container: exportContainer,
        logger,
        csvFormulaGuard: settings.csvFormulaGuard,
        csvBom: settings.csvBom,
        deadlineSeconds: settings.deadlineSeconds,
        onCountMismatch: settings.onCountMismatch,
        ...extra,
      };
    },
  };
}
