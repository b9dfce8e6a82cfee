import { randomUUID } from "node:crypto";
import type { ContainerClient } from "@azure/storage-blob";
import type { ExportFormat } from "../config/profiles.js";
import type { ExportProfile } from "../config/settings.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { QueryValidationError, validateQuery, type ValidatedQuery } from "../partnerCenter/query.js";
import { ExportError, type ExportFailureReason } from "./errors.js";
import { runExport, type ExportEnvironment, type ExportJob } from "./exporter.js";
import { JOB_MAX_DEQUEUE_COUNT, type JobMessage, type JobQueue } from "./jobQueue.js";
import { MANIFEST_NAME, runFolder } from "./layout.js";
import type { Trigger } from "./manifest.js";
import type { ProfileLocks } from "./profileLock.js";
import { newRunId } from "./runId.js";
import { RunStoreError, type RunError, type RunRecord, type RunStore } from "./runStore.js";

/** Profile name of exports whose query comes with the request rather than from EXPORT_PROFILES. */
export const ADHOC_PROFILE = "adhoc";

/** Failures that a retry cannot fix: the run fails at once and the job is not redelivered. */
export const NON_RETRYABLE_REASONS: ReadonlySet<ExportFailureReason> = new Set([
  "consent_required",
  "count_mismatch",
  "bad_request",
]);

/** Seconds a job waits before trying again when another run of its profile holds the lock. */
export const LOCK_RETRY_DELAY_SECONDS = 30;

const MAX_FOLDER_BLOBS = 100;

export interface ExportRequestInput {
  readonly profile?: string | undefined;
  readonly filter?: string | undefined;
  readonly groupby?: string | readonly string[] | undefined;
  readonly aggregationLevel?: string | undefined;
  readonly formats?: readonly ExportFormat[] | undefined;
}

export interface ResolvedExportRequest {
  readonly profile: string;
  readonly query: ValidatedQuery;
  readonly formats: readonly ExportFormat[];
}

export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export type Resolution =
  | { readonly ok: true; readonly value: ResolvedExportRequest }
  | { readonly ok: false; readonly errors: readonly FieldProblem[] };

/**
 * Turns a request into a profile, a validated query and formats, or the list of problems.
 * A named profile runs exactly as configured (its `latest/` stays one stable data set); an
 * export without a profile is ad hoc, published under the `adhoc` profile.
 */
export function resolveExportRequest(
  input: ExportRequestInput,
  profiles: readonly ExportProfile[],
): Resolution {
  const errors: FieldProblem[] = [];
  if (input.profile !== undefined) {
    const profile = profiles.find((p) => p.name === input.profile);
    if (!profile) {
      errors.push({
        field: "profile",
        message: `unknown profile '${input.profile}'; configured profiles: ${profiles.map((p) => p.name).join(", ")} (omit profile for an ad-hoc export)`,
      });
    }
    for (const field of ["filter", "groupby", "aggregationLevel", "formats"] as const) {
      if (input[field] !== undefined)
        errors.push({
          field,
          message: `cannot be combined with profile: a profile's query and formats are set in EXPORT_PROFILES (omit profile for an ad-hoc export)`,
        });
    }
    if (errors.length > 0 || !profile) return { ok: false, errors };
    return { ok: true, value: { profile: profile.name, query: profile.query, formats: profile.formats } };
  }

  // Each query field is checked on its own first, so every bad field is named at once.
  const collect = (check: () => unknown): void => {
    try {
      check();
    } catch (error) {
      if (!(error instanceof QueryValidationError)) throw error;
      errors.push({ field: error.field, message: error.detail });
    }
  };
  collect(() => validateQuery({ filter: input.filter }));
  collect(() => validateQuery({ groupby: input.groupby }));
  let query: ValidatedQuery | undefined;
  if (errors.length === 0) {
    collect(() => {
      query = validateQuery({
        filter: input.filter,
        groupby: input.groupby,
        aggregationLevel: input.aggregationLevel,
      });
    });
  } else if (input.aggregationLevel !== undefined) {
    // The level's own spelling can still be checked, against any date field.
    collect(() => validateQuery({ groupby: ["createdDate"], aggregationLevel: input.aggregationLevel }));
  }
  if (errors.length > 0 || !query) return { ok: false, errors };
  return { ok: true, value: { profile: ADHOC_PROFILE, query, formats: input.formats ?? ["csv", "json"] } };
}

export interface RunServiceDeps {
  readonly store: RunStore;
  readonly queue: JobQueue;
  readonly locks: ProfileLocks;
  readonly profiles: readonly ExportProfile[];
  readonly exportContainer: ContainerClient;
  /** The export environment for one run (client, container, settings), with per-run extras. */
  readonly exportEnvironment: (extra: Partial<ExportEnvironment>) => ExportEnvironment;
  readonly deadlineSeconds: number;
  readonly logger?: Logger;
  readonly now?: () => Date;
  readonly maxDequeueCount?: number;
  readonly lockRetryDelaySeconds?: number;
}

export type SubmitOutcome =
  | { readonly kind: "accepted"; readonly run: RunRecord }
  | { readonly kind: "conflict"; readonly active: RunRecord };

export interface SubmitOptions {
  readonly trigger: Trigger;
  /** Queue even when another run of the profile is queued or running (the lock still serialises them). */
  readonly force?: boolean;
  readonly logger?: Logger;
  readonly runId?: string;
}

export interface ExecuteOptions {
  /** Host delivery count of this job (1 on the first delivery). */
  readonly dequeueCount: number;
  readonly abortSignal?: AbortSignal;
  readonly logger?: Logger;
}

export type ExecuteOutcome =
  | { readonly kind: "succeeded"; readonly run: RunRecord }
  /** Failed for good; the job must not be redelivered. */
  | { readonly kind: "failed"; readonly run: RunRecord }
  /** Nothing to do: the run already finished (a redelivered job). */
  | { readonly kind: "skipped"; readonly run: RunRecord }
  /** Another run holds the profile; the job went back on the queue with a delay. */
  | { readonly kind: "requeued"; readonly holder: string | undefined }
  /** A transient failure: the job should be redelivered; `final` means the run is marked failed already. */
  | { readonly kind: "retry"; readonly error: ExportError; readonly final: boolean };

export interface ScheduledOutcome {
  readonly profile: string;
  /** The run queued for this slot, or undefined when the slot had been claimed before. */
  readonly runId: string | undefined;
}

/**
 * The core behind every door (HTTP, timer, queue worker, dev host): records runs, queues
 * jobs, and runs a job under its profile's lock with at-least-once-safe bookkeeping.
 */
export class RunService {
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly maxDequeueCount: number;
  private readonly lockRetryDelaySeconds: number;

  constructor(private readonly deps: RunServiceDeps) {
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? (() => new Date());
    this.maxDequeueCount = deps.maxDequeueCount ?? JOB_MAX_DEQUEUE_COUNT;
    this.lockRetryDelaySeconds = deps.lockRetryDelaySeconds ?? LOCK_RETRY_DELAY_SECONDS;
  }

  get profiles(): readonly ExportProfile[] {
    return this.deps.profiles;
  }

  get exportContainer(): ContainerClient {
    return this.deps.exportContainer;
  }

  /** Records a queued run and enqueues its job, unless a run of the profile is in progress. */
  async submit(request: ResolvedExportRequest, options: SubmitOptions): Promise<SubmitOutcome> {
    const now = this.now();
    if (options.force !== true) {
      const active = await this.deps.store.findActive(request.profile, now);
      if (active) return { kind: "conflict", active };
    }
    const runId = options.runId ?? newRunId(now);
    const correlationId = randomUUID();
    const log = (options.logger ?? this.logger).child({ runId, correlationId, profile: request.profile });
    const stamp = now.toISOString();
    const run: RunRecord = {
      schemaVersion: 1,
      runId,
      profile: request.profile,
      trigger: options.trigger,
      status: "queued",
      correlationId,
      query: {
        filter: request.query.filter ?? null,
        groupby: request.query.groupby ? [...request.query.groupby] : null,
        aggregationLevel: request.query.aggregationLevel ?? null,
      },
      formats: [...request.formats],
      queuedAt: stamp,
      updatedAt: stamp,
      attempts: 0,
    };
    await this.deps.store.create(run);
    const message: JobMessage = {
      runId,
      profile: request.profile,
      trigger: options.trigger,
      ...(request.query.filter !== undefined ? { filter: request.query.filter } : {}),
      ...(request.query.groupby !== undefined ? { groupby: [...request.query.groupby] } : {}),
      ...(request.query.aggregationLevel !== undefined
        ? { aggregationLevel: request.query.aggregationLevel }
        : {}),
      formats: [...request.formats],
      correlationId,
    };
    try {
      await this.deps.queue.send(message);
    } catch (error) {
      log.error("Could not queue the export job", { error });
      await this.finish(runId, "failed", {
        error: { reason: "storage", message: "The export job could not be queued; try again" },
      }).catch(() => undefined);
      throw error;
    }
    log.info("Export queued", {
      trigger: options.trigger,
      formats: run.formats,
      force: options.force === true,
    });
    return { kind: "accepted", run };
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    return this.deps.store.get(runId);
  }

  async list(options: { profile?: string; limit?: number }): Promise<RunRecord[]> {
    return this.deps.store.list(options);
  }

  /**
   * Queues one run per scheduled profile for the schedule slot (the tick the timer stands
   * for). A slot is claimed once per profile, so a past-due catch-up or a double fire
   * queues nothing new.
   */
  async enqueueScheduled(slot: Date, logger: Logger = this.logger): Promise<ScheduledOutcome[]> {
    const slotName = slot
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d{3}Z$/, "Z");
    const outcomes: ScheduledOutcome[] = [];
    const failures: unknown[] = [];
    for (const profile of this.deps.profiles.filter((p) => p.schedule)) {
      const runId = newRunId(this.now());
      if (!(await this.deps.store.claimSlot(profile.name, slotName, runId))) {
        logger.info("Scheduled slot already queued", { profile: profile.name, slot: slotName });
        outcomes.push({ profile: profile.name, runId: undefined });
        continue;
      }
      try {
        await this.submit(
          { profile: profile.name, query: profile.query, formats: profile.formats },
          { trigger: "timer", force: true, logger, runId },
        );
        outcomes.push({ profile: profile.name, runId });
      } catch (error) {
        // Give the slot back so the next fire (or a restart's catch-up) can queue it.
        await this.deps.store.releaseSlot(profile.name, slotName).catch(() => undefined);
        logger.error("Could not queue the scheduled export", {
          profile: profile.name,
          slot: slotName,
          error,
        });
        failures.push(error);
      }
    }
    if (failures.length > 0)
      throw new AggregateError(failures, `${failures.length} scheduled export(s) could not be queued`);
    return outcomes;
  }

  /** Runs one job. Safe under at-least-once delivery: finished runs are left alone. */
  async execute(message: JobMessage, options: ExecuteOptions): Promise<ExecuteOutcome> {
    const log = (options.logger ?? this.logger).child({
      runId: message.runId,
      correlationId: message.correlationId,
      profile: message.profile,
      dequeueCount: options.dequeueCount,
    });
    const before = await this.ensureRecord(message);
    if (before.status === "succeeded" || before.status === "failed") {
      log.info("Job for a finished run ignored (redelivery)", { status: before.status });
      return { kind: "skipped", run: before };
    }

    let query: ValidatedQuery;
    try {
      query = validateQuery({
        filter: message.filter,
        groupby: message.groupby,
        aggregationLevel: message.aggregationLevel,
      });
    } catch (error) {
      if (!(error instanceof QueryValidationError)) throw error;
      const run = await this.finish(message.runId, "failed", {
        error: { reason: "bad_request", message: error.message },
      });
      log.error("Job carries an invalid query", { error: error.message });
      return { kind: "failed", run };
    }

    const lock = await this.deps.locks.tryAcquire(message.profile, message.runId);
    if (!lock) return this.waitForLock(message, log);

    try {
      // Decide again under the lock: another delivery of this job may have finished it meanwhile.
      const current = await this.deps.store.get(message.runId);
      if (current && (current.status === "succeeded" || current.status === "failed")) {
        log.info("Job for a finished run ignored (redelivery)", { status: current.status });
        return { kind: "skipped", run: current };
      }
      const started = this.now().toISOString();
      await this.deps.store.update(message.runId, (r) => ({
        ...r,
        status: "running",
        startedAt: r.startedAt ?? started,
        heartbeatAt: started,
        updatedAt: started,
        attempts: r.attempts + 1,
      }));
      lock.onRenew(() => {
        const at = this.now().toISOString();
        this.deps.store
          .update(message.runId, (r) =>
            r.status === "running" ? { ...r, heartbeatAt: at, updatedAt: at } : undefined,
          )
          .catch((error: unknown) => {
            log.warn("Could not record the run's heartbeat", { error });
          });
      });

      // A killed earlier attempt may have left files in this run's folder; none may survive.
      await this.removeRunFolder(message.profile, message.runId, log);

      const job: ExportJob = {
        runId: message.runId,
        profile: message.profile,
        trigger: message.trigger,
        query,
        formats: message.formats,
        correlationId: message.correlationId,
      };
      const signals = [lock.signal, ...(options.abortSignal ? [options.abortSignal] : [])];
      try {
        const result = await runExport(
          job,
          this.deps.exportEnvironment({ abortSignal: AbortSignal.any(signals), logger: log }),
        );
        const { manifest } = result;
        const run = await this.finish(message.runId, "succeeded", {
          rowCount: manifest.rowCount,
          manifestPath: result.manifestPath,
          files: manifest.files.map((f) => ({
            path: f.path,
            format: f.format,
            bytes: f.bytes,
            sha256: f.sha256,
            rowCount: f.rowCount,
          })),
          warnings: [...manifest.integrity.warnings],
        });
        return { kind: "succeeded", run };
      } catch (caught) {
        const error =
          caught instanceof ExportError
            ? caught
            : new ExportError("internal", caught instanceof Error ? caught.message : String(caught), {
                cause: caught,
              });
        const failure: RunError = { reason: error.reason, message: error.message };
        if (NON_RETRYABLE_REASONS.has(error.reason)) {
          const run = await this.finish(message.runId, "failed", { error: failure });
          log.error("Export failed; not retrying", { reason: error.reason });
          return { kind: "failed", run };
        }
        const final = options.dequeueCount >= this.maxDequeueCount;
        if (final) {
          await this.finish(message.runId, "failed", { error: failure });
          log.error("Export failed on its last attempt", {
            reason: error.reason,
            attempts: options.dequeueCount,
          });
        } else {
          const at = this.now().toISOString();
          await this.deps.store.update(message.runId, (r) => ({
            ...r,
            status: "queued",
            updatedAt: at,
            lastError: { ...failure, at },
          }));
          log.warn("Export attempt failed; it will be retried", {
            reason: error.reason,
            attempt: options.dequeueCount,
          });
        }
        return { kind: "retry", error, final };
      }
    } finally {
      await lock.release();
    }
  }

  /** Marks a run failed (used when its job cannot be read, or lands in the poison queue). */
  async markFailed(runId: string, error: RunError): Promise<RunRecord | undefined> {
    try {
      return await this.finish(runId, "failed", { error });
    } catch (caught) {
      if (caught instanceof RunStoreError) return undefined;
      throw caught;
    }
  }

  private async waitForLock(message: JobMessage, log: Logger): Promise<ExecuteOutcome> {
    const holder = await this.deps.locks.holder(message.profile);
    const waits = (message.lockWaits ?? 0) + 1;
    const maxWaits = Math.ceil((2 * this.deps.deadlineSeconds + 600) / this.lockRetryDelaySeconds);
    if (waits > maxWaits) {
      const run = await this.finish(message.runId, "failed", {
        error: {
          reason: "deadline",
          message: `Gave up waiting for another run of profile ${message.profile} to finish${holder ? ` (${holder})` : ""}`,
        },
      });
      return { kind: "failed", run };
    }
    await this.deps.queue.send(
      { ...message, lockWaits: waits },
      { delaySeconds: this.lockRetryDelaySeconds },
    );
    const at = this.now().toISOString();
    await this.deps.store.update(message.runId, (r) =>
      r.status === "queued" ? { ...r, updatedAt: at } : undefined,
    );
    log.info("Profile is busy; job queued again", {
      holder,
      delaySeconds: this.lockRetryDelaySeconds,
      waits,
    });
    return { kind: "requeued", holder };
  }

  /** The run's record, created from the job when the job arrived without one. */
  private async ensureRecord(message: JobMessage): Promise<RunRecord> {
    const existing = await this.deps.store.get(message.runId);
    if (existing) return existing;
    const stamp = this.now().toISOString();
    const run: RunRecord = {
      schemaVersion: 1,
      runId: message.runId,
      profile: message.profile,
      trigger: message.trigger,
      status: "queued",
      correlationId: message.correlationId,
      query: {
        filter: message.filter ?? null,
        groupby: message.groupby ?? null,
        aggregationLevel: message.aggregationLevel ?? null,
      },
      formats: message.formats,
      queuedAt: stamp,
      updatedAt: stamp,
      attempts: 0,
    };
    try {
      await this.deps.store.create(run);
      return run;
    } catch (error) {
      if (!(error instanceof RunStoreError)) throw error;
      return (await this.deps.store.get(message.runId)) ?? run;
    }
  }

  private async finish(
    runId: string,
    status: "succeeded" | "failed",
    fields: Partial<Pick<RunRecord, "error" | "rowCount" | "manifestPath" | "files" | "warnings">>,
  ): Promise<RunRecord> {
    const now = this.now();
    const at = now.toISOString();
    return this.deps.store.update(runId, (r) => {
      const { lastError: _lastError, heartbeatAt: _heartbeatAt, ...rest } = r;
      return {
        ...rest,
        ...fields,
        status,
        completedAt: at,
        updatedAt: at,
        ...(r.startedAt ? { durationMs: now.getTime() - Date.parse(r.startedAt) } : {}),
      };
    });
  }

  /** Deletes a run folder's files, the manifest first so no reader takes the rest for complete. */
  private async removeRunFolder(profile: string, runId: string, log: Logger): Promise<void> {
    const container = this.deps.exportContainer;
    const folder = runFolder(profile, runId);
    await container.getBlockBlobClient(`${folder}${MANIFEST_NAME}`).deleteIfExists();
    let removed = 0;
    for await (const blob of container.listBlobsFlat({ prefix: folder })) {
      await container.deleteBlob(blob.name, { deleteSnapshots: "include" });
      if (++removed >= MAX_FOLDER_BLOBS) break;
    }
    if (removed > 0) log.warn("Removed files left by an earlier attempt", { folder, removed });
  }
}
