import type { QueueClient } from "@azure/storage-queue";
import { z } from "zod";
import { ADHOC_PROFILE, FORMATS, PROFILE_NAME } from "../export/layout.js";
import { DATASET_IDS } from "../partnerCenter/datasets/index.js";
import { querySpecSchema } from "../partnerCenter/query.js";
import { isRunId } from "../export/runId.js";

/**
 * Attempts per job before it moves to the poison queue. Equals host.json
 * `extensions.queues.maxDequeueCount`; the dev host and the worker's last-attempt logic use it.
 */
export const JOB_MAX_DEQUEUE_COUNT = 5;
/** Delay before a failed job is offered again (host.json `visibilityTimeout`). */
export const JOB_RETRY_DELAY_SECONDS = 60;
/** Longest wait between polls of an empty queue (host.json `maxPollingInterval`). */
export const JOB_MAX_POLLING_INTERVAL_MS = 10_000;

const TRIGGERS = ["http", "timer", "cli"] as const;

/** One export job as it travels on the `export-jobs` queue. */
const currentJobSchema = z.strictObject({
  runId: z.string().refine(isRunId, "must be a run id such as 20261124T020000Z-k3x9qa"),
  profile: PROFILE_NAME,
  /** Whether `profile` is a configured profile or an ad-hoc folder (absent in older jobs). */
  source: z.enum(["profile", "adhoc"]).optional(),
  trigger: z.enum(TRIGGERS),
  /**
   * The dataset the query is for. Absent means referrals: jobs of earlier versions, and referrals
   * jobs, which leave it out so a worker of an earlier version (whose schema is strict) still runs them.
   */
  dataset: z.enum(DATASET_IDS).optional(),
  query: querySpecSchema,
  formats: FORMATS,
  correlationId: z.uuid(),
  /** How many times the job went back to the queue because another run of its profile held the lock. */
  lockWaits: z.number().int().min(0).max(10_000).optional(),
});

/**
 * Jobs queued by earlier versions carry the query flat (`filter`, `groupby`, `aggregationLevel`,
 * each optional); they are read into the nested form, so a queue that holds them drains normally.
 */
function upgradeLegacyJob(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value) || "query" in value) return value;
  const { filter, groupby, aggregationLevel, ...rest } = value as Record<string, unknown>;
  return {
    ...rest,
    query: { filter: filter ?? null, groupby: groupby ?? null, aggregationLevel: aggregationLevel ?? null },
  };
}

export const jobMessageSchema = z.preprocess(upgradeLegacyJob, currentJobSchema);

export type JobMessage = z.infer<typeof currentJobSchema>;

/** Where the job publishes: older jobs name no source, and only `adhoc` was ad hoc then. */
export function jobSource(message: JobMessage): "profile" | "adhoc" {
  return message.source ?? (message.profile === ADHOC_PROFILE ? "adhoc" : "profile");
}

export class JobMessageError extends Error {
  override readonly name = "JobMessageError";
  readonly reason = "bad_job";
  /** The run id when the message carried a readable one, so the run can be marked failed. */
  readonly runId: string | undefined;
  constructor(message: string, runId: string | undefined) {
    super(message);
    this.runId = runId;
  }
}

/**
 * Queue messages are base64-encoded JSON, the Functions queue trigger's default encoding
 * (`messageEncoding: base64`), so the host hands the worker the parsed object.
 */
export function encodeJobMessage(message: JobMessage): string {
  return Buffer.from(JSON.stringify(message), "utf8").toString("base64");
}

/**
 * Reads a job from what a trigger delivers: the host's parsed object, JSON text, or the raw
 * base64 text of the queue message.
 */
export function decodeJobMessage(entry: unknown): JobMessage {
  let value = entry;
  if (typeof value === "string") value = parseText(value);
  if (Buffer.isBuffer(value)) value = parseText(value.toString("utf8"));
  const parsed = jobMessageSchema.safeParse(value);
  if (!parsed.success) {
    const runId =
      typeof value === "object" && value !== null && typeof (value as { runId?: unknown }).runId === "string"
        ? (value as { runId: string }).runId
        : undefined;
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "message"}: ${i.message}`);
    throw new JobMessageError(
      `not an export job: ${problems.slice(0, 5).join("; ")}`,
      runId && isRunId(runId) ? runId : undefined,
    );
  }
  return parsed.data;
}

export function isJobMessageError(error: unknown): error is JobMessageError {
  return error instanceof JobMessageError;
}

function parseText(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) return tryJson(trimmed);
  // Raw queue text: base64 of the JSON document.
  if (/^[A-Za-z0-9+/=\s]+$/.test(trimmed)) return tryJson(Buffer.from(trimmed, "base64").toString("utf8"));
  return text;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The export job queue and its poison queue. */
export class JobQueue {
  constructor(
    readonly queue: QueueClient,
    readonly poisonQueue: QueueClient,
  ) {}

  /** Enqueues a job; `delaySeconds` keeps it invisible that long (used while a profile is locked). */
  async send(message: JobMessage, options: { delaySeconds?: number } = {}): Promise<void> {
    await this.queue.sendMessage(encodeJobMessage(message), {
      ...(options.delaySeconds ? { visibilityTimeout: options.delaySeconds } : {}),
    });
  }

  /** Keeps a message the worker cannot read where an operator will look for it. */
  async sendToPoison(text: string): Promise<void> {
    await this.poisonQueue.sendMessage(Buffer.from(text, "utf8").toString("base64"));
  }
}
