import { RestError } from "@azure/core-rest-pipeline";
import type { ContainerClient } from "@azure/storage-blob";
import { z } from "zod";
import { redact } from "../common/redact.js";
import { EXPORT_FORMATS } from "../export/layout.js";
import type { ExportFailureReason } from "../export/errors.js";
import { isRunId } from "../export/runId.js";
import { DATASET_IDS } from "../partnerCenter/datasets/index.js";
import { querySpecSchema } from "../partnerCenter/query.js";
import { decodeContinuationToken, encodeContinuationToken, listingScope } from "./continuationToken.js";

export const RUN_STATUSES = ["queued", "running", "succeeded", "failed"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const FAILURE_REASONS = [
  "consent_required",
  "sign_in",
  "upstream",
  "storage",
  "count_mismatch",
  "deadline",
  "aborted",
  "bad_request",
  "internal",
] as const satisfies readonly ExportFailureReason[];

/** Newest runs a listing reads at most. */
export const MAX_LIST_LIMIT = 50;
/** A running export writes a heartbeat about every 20 s; one this old means its worker is gone. */
export const RUNNING_STALE_MS = 5 * 60_000;
/** A queued run is touched on every retry and lock wait; one untouched this long has lost its job. */
export const QUEUED_STALE_MS = 60 * 60_000;

const MAX_RECORD_BYTES = 1_000_000;
const MAX_UPDATE_ATTEMPTS = 8;
const INVERTED_BASE = 9_999_999_999_999;

const runErrorSchema = z.object({
  reason: z.enum(FAILURE_REASONS),
  message: z.string(),
});

const runFileSchema = z.object({
  path: z.string(),
  format: z.enum(EXPORT_FORMATS),
  bytes: z.number(),
  sha256: z.string(),
  rowCount: z.number(),
});

/** A succeeded run's change feed: what it was compared with and what changed (see ManifestChanges). */
export const runChangesSchema = z.object({
  previousRunId: z.string().nullable(),
  note: z.string().nullable(),
  keyFields: z.array(z.string()),
  added: z.number(),
  changed: z.number(),
  removed: z.number(),
  /** changes.csv / changes.json, in the run's folder. */
  files: z.array(z.string()),
});

/** `runs/{runId}.json`: the authoritative state of one run, updated with ETag conditions. */
export const runRecordSchema = z.object({
  schemaVersion: z.literal(1),
  runId: z.string().refine(isRunId),
  profile: z.string(),
  trigger: z.enum(["http", "timer", "cli"]),
  status: z.enum(RUN_STATUSES),
  correlationId: z.string(),
  /** The dataset the query is for (absent in records of earlier versions: referrals). */
  dataset: z.enum(DATASET_IDS).optional(),
  query: querySpecSchema,
  formats: z.array(z.enum(EXPORT_FORMATS)),
  queuedAt: z.string(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  durationMs: z.number().optional(),
  updatedAt: z.string(),
  /** Last sign of life from the worker running the export. */
  heartbeatAt: z.string().optional(),
  /** Export attempts started so far (redeliveries included). */
  attempts: z.number().int().min(0),
  rowCount: z.number().optional(),
  manifestPath: z.string().optional(),
  files: z.array(runFileSchema).optional(),
  /** Raw runs of a keyed dataset: their change feed. */
  changes: runChangesSchema.optional(),
  warnings: z.array(z.string()).optional(),
  /** Why a failed run failed. */
  error: runErrorSchema.optional(),
  /** Why the last attempt of a run that will be retried failed. */
  lastError: runErrorSchema.extend({ at: z.string() }).optional(),
});

export type RunRecord = z.infer<typeof runRecordSchema>;
export type RunFile = z.infer<typeof runFileSchema>;
export type RunError = z.infer<typeof runErrorSchema>;

export interface ListPageOptions {
  readonly profile?: string;
  readonly limit?: number;
  /** From the previous page; opaque to callers. */
  readonly continuationToken?: string;
}

export interface RunPage {
  readonly runs: RunRecord[];
  /** Present when more runs follow. */
  readonly continuationToken?: string;
}

export type RunStoreErrorReason = "exists" | "missing" | "unreadable" | "contention";

export class RunStoreError extends Error {
  override readonly name = "RunStoreError";
  constructor(
    readonly reason: RunStoreErrorReason,
    message: string,
  ) {
    super(message);
  }
}

export function isRunStoreError(error: unknown): error is RunStoreError {
  return error instanceof RunStoreError;
}

export function runBlobName(runId: string): string {
  return `runs/${runId}.json`;
}

function invertedTime(iso: string): string {
  return String(INVERTED_BASE - Date.parse(iso)).padStart(13, "0");
}

const ALL_PREFIX = "index/all/";
const profilePrefix = (profile: string): string => `index/profiles/${profile}/`;

/** True while a run still counts as in progress (queued or running, and not abandoned). */
export function isActiveRun(record: RunRecord, now: Date): boolean {
  if (record.status === "running") {
    const seen = Date.parse(record.heartbeatAt ?? record.updatedAt);
    return now.getTime() - seen < RUNNING_STALE_MS;
  }
  if (record.status === "queued") return now.getTime() - Date.parse(record.updatedAt) < QUEUED_STALE_MS;
  return false;
}

/**
 * The record with its free texts redacted: an error message may quote an upstream error body, and
 * that body may echo the request's credentials. Everything a user reads of a run comes from here.
 */
export function redactRunTexts(record: RunRecord): RunRecord {
  const { error, lastError, warnings } = record;
  return {
    ...record,
    ...(error ? { error: { ...error, message: redact(error.message) } } : {}),
    ...(lastError ? { lastError: { ...lastError, message: redact(lastError.message) } } : {}),
    ...(warnings ? { warnings: warnings.map(redact) } : {}),
  };
}

/**
 * Run status kept in blobs so every instance (and the CLI) sees the same state: one JSON
 * record per run plus empty marker blobs whose names sort newest first, for bounded listings.
 */
export class RunStore {
  constructor(readonly container: ContainerClient) {}

  /** Writes a new run's record (texts redacted) and its listing markers; fails if the run id exists. */
  async create(record: RunRecord): Promise<void> {
    const text = JSON.stringify(runRecordSchema.parse(redactRunTexts(record)), null, 2);
    try {
      await this.container
        .getBlockBlobClient(runBlobName(record.runId))
        .upload(text, Buffer.byteLength(text), {
          blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" },
          conditions: { ifNoneMatch: "*" },
        });
    } catch (error) {
      if (isStatus(error, 409) || isStatus(error, 412))
        throw new RunStoreError("exists", `run ${record.runId} already exists`);
      throw error;
    }
    const marker = `${invertedTime(record.queuedAt)}-${record.runId}`;
    await Promise.all(
      [`${ALL_PREFIX}${marker}`, `${profilePrefix(record.profile)}${marker}`].map((name) =>
        this.container.getBlockBlobClient(name).upload("", 0),
      ),
    );
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    return (await this.read(runId))?.record;
  }

  /**
   * Read-modify-write under an ETag condition, retried when another writer got there first.
   * `mutate` returns the new record, or undefined to leave it as it is.
   */
  async update(runId: string, mutate: (current: RunRecord) => RunRecord | undefined): Promise<RunRecord> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.read(runId);
      if (!current) throw new RunStoreError("missing", `run ${runId} has no record`);
      const mutated = mutate(current.record);
      if (mutated === undefined) return current.record;
      // Redacted on every write, whoever the writer: the caller gets back what was stored.
      const next = redactRunTexts(mutated);
      const text = JSON.stringify(runRecordSchema.parse(next), null, 2);
      try {
        await this.container.getBlockBlobClient(runBlobName(runId)).upload(text, Buffer.byteLength(text), {
          blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" },
          conditions: { ifMatch: current.etag },
        });
        return next;
      } catch (error) {
        if (!isStatus(error, 412)) throw error;
      }
    }
    throw new RunStoreError("contention", `run ${runId}: too many concurrent updates`);
  }

  /** Newest runs first, of one profile or of all; at most MAX_LIST_LIMIT. */
  async list(options: { profile?: string; limit?: number } = {}): Promise<RunRecord[]> {
    return (await this.listPage(options)).runs;
  }

  /**
   * One page of runs, newest first, of one profile or of all; at most MAX_LIST_LIMIT. The token
   * of the next page wraps the marker listing's own continuation marker (see continuationToken.ts);
   * a token of another listing, or one changed since it was issued, throws
   * InvalidContinuationTokenError before storage is read.
   */
  async listPage(options: ListPageOptions = {}): Promise<RunPage> {
    const limit = Math.max(1, Math.min(MAX_LIST_LIMIT, options.limit ?? 20));
    const scope = listingScope(options.profile);
    const marker =
      options.continuationToken === undefined
        ? undefined
        : decodeContinuationToken(options.continuationToken, scope);
    const prefix = options.profile === undefined ? ALL_PREFIX : profilePrefix(options.profile);
    const pages = this.container
      .listBlobsFlat({ prefix })
      .byPage({ maxPageSize: limit, ...(marker !== undefined ? { continuationToken: marker } : {}) });
    // One page of the marker listing per call: the next call starts where the service stopped.
    const first = await pages.next();
    const page = first.done === true ? undefined : first.value;
    const ids: string[] = [];
    for (const blob of page?.segment.blobItems ?? []) {
      if (!blob.name.startsWith(prefix)) continue;
      const runId = blob.name.slice(prefix.length + 14);
      if (isRunId(runId)) ids.push(runId);
    }
    const records = await Promise.all(ids.slice(0, limit).map((id) => this.get(id)));
    const next = page?.continuationToken;
    return {
      runs: records.filter((r): r is RunRecord => r !== undefined),
      ...(next ? { continuationToken: encodeContinuationToken(scope, next) } : {}),
    };
  }

  /** The newest run of the profile that is still queued or running, if any. */
  async findActive(profile: string, now: Date): Promise<RunRecord | undefined> {
    const recent = await this.list({ profile, limit: 20 });
    return recent.find((r) => isActiveRun(r, now));
  }

  /**
   * Claims a scheduled slot for a profile exactly once (create-if-absent), so a past-due
   * catch-up or a second timer instance does not enqueue the same nightly run twice.
   */
  async claimSlot(profile: string, slot: string, runId: string): Promise<boolean> {
    try {
      await this.container.getBlockBlobClient(`schedule/${profile}/${slot}`).upload(runId, runId.length, {
        conditions: { ifNoneMatch: "*" },
      });
      return true;
    } catch (error) {
      if (isStatus(error, 409) || isStatus(error, 412)) return false;
      throw error;
    }
  }

  async releaseSlot(profile: string, slot: string): Promise<void> {
    await this.container.getBlockBlobClient(`schedule/${profile}/${slot}`).deleteIfExists();
  }

  private async read(runId: string): Promise<{ record: RunRecord; etag: string } | undefined> {
    let response;
    try {
      response = await this.container.getBlobClient(runBlobName(runId)).download();
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
    const text = await readText(response.readableStreamBody, MAX_RECORD_BYTES);
    const parsed = runRecordSchema.safeParse(safeJson(text));
    if (!parsed.success || !response.etag)
      throw new RunStoreError("unreadable", `run ${runId}: the stored record is not readable`);
    return { record: parsed.data, etag: response.etag };
  }
}

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof RestError
    ? error.statusCode === status
    : (error as { statusCode?: unknown } | null)?.statusCode === status;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

async function readText(stream: NodeJS.ReadableStream | undefined, limit: number): Promise<string> {
  if (!stream) return "";
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > limit) throw new RunStoreError("unreadable", `stored record is larger than ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
