import { randomUUID } from "node:crypto";
import type { ContainerClient } from "@azure/storage-blob";
import { ExportError, toExportError, type ExportFailureReason } from "../export/errors.js";
import {
  runExport,
  type ExportEnvironment,
  type ExportJob,
  type ExportProgress,
} from "../export/exporter.js";
import { MANIFEST_NAME, runFolder } from "../export/layout.js";
import type { Manifest, Trigger } from "../export/manifest.js";
import { newRunId } from "../export/runId.js";
import { silentLogger, type Logger } from "../logging/logger.js";
import { isRetryableListingFailure } from "../partnerCenter/retry.js";
import { noTelemetry, type RunTelemetry } from "../logging/telemetry.js";
import { publishTargetProblem } from "./publishTarget.js";
import { RunEndings } from "./runEndings.js";
import {
  isQueryValidationError,
  queryDataset,
  toQuerySpec,
  validateQuerySpec,
  type ValidatedQuery,
} from "../partnerCenter/query.js";
import type { ExportSource, FieldProblem, ResolvedExportRequest } from "./exportRequest.js";
import { JOB_MAX_DEQUEUE_COUNT, jobSource, type JobMessage, type JobQueue } from "./jobQueue.js";
import type { ProfileLock, ProfileLocks } from "./profileLock.js";
import type { ExportProfile } from "./profiles.js";
import {
  allAdmissions,
  DEFAULT_RUN_LIMITS,
  isLimitRefusal,
  RunAdmissions,
  type Admission,
  type LimitRefusal,
  type RunLimits,
} from "./runLimits.js";
import {
  isRunStoreError,
  type ListPageOptions,
  type RunError,
  type RunPage,
  type RunRecord,
  type RunStore,
} from "./runStore.js";

/** Failures that a retry cannot fix: the run fails at once and the job is not redelivered. */
export const NON_RETRYABLE_REASONS: ReadonlySet<ExportFailureReason> = new Set([
  "consent_required",
  "count_mismatch",
  "bad_request",
]);

/** Seconds a job waits before trying again when another run of its profile holds the lock. */
export const LOCK_RETRY_DELAY_SECONDS = 30;

const MAX_FOLDER_BLOBS = 100;

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
  /** Receives one `export.run` event per run, when it ends. */
  readonly telemetry?: RunTelemetry;
  readonly now?: () => Date;
  readonly maxDequeueCount?: number;
  readonly lockRetryDelaySeconds?: number;
  /** What a caller can make the app do at once (default: the settings' defaults). */
  readonly limits?: RunLimits;
}

export type SubmitOutcome =
  | { readonly kind: "accepted"; readonly run: RunRecord }
  | { readonly kind: "conflict"; readonly active: RunRecord }
  /** The request is valid on its face but cannot run here (e.g. its folder is a profile's). */
  | { readonly kind: "invalid"; readonly errors: readonly FieldProblem[] }
  /** A run limit is reached (runLimits.ts): nothing was recorded or queued; ask again later. */
  | LimitRefusal;

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
  /** The host is stopping (Azure's appTerminate, the dev host's Ctrl-C): the run ends failed, saying so. */
  readonly abortSignal?: AbortSignal;
  readonly logger?: Logger;
}

export interface RunNowOptions {
  readonly trigger: Trigger;
  /** Ctrl-C: the run ends failed, saying it was stopped. */
  readonly abortSignal?: AbortSignal;
  readonly onProgress?: (progress: ExportProgress) => void;
  readonly logger?: Logger;
}

export type ExecuteOutcome =
  | { readonly kind: "succeeded"; readonly run: RunRecord; readonly manifest: Manifest }
  /** Failed for good; the job must not be redelivered. */
  | { readonly kind: "failed"; readonly run: RunRecord }
  /** Nothing to do: the run already finished (a redelivered job). */
  | { readonly kind: "skipped"; readonly run: RunRecord }
  /** Another run holds the profile; the job went back on the queue with a delay. */
  | { readonly kind: "requeued"; readonly holder: string | undefined }
  /** A transient failure: the job should be redelivered; `final` means the run is marked failed already. */
  | { readonly kind: "retry"; readonly error: ExportError; readonly final: boolean };

export type RunNowOutcome =
  | Extract<ExecuteOutcome, { kind: "succeeded" | "failed" }>
  | Exclude<SubmitOutcome, { kind: "accepted" }>
  /** Another process holds the profile's lock (its run record may be older than this version). */
  | { readonly kind: "busy"; readonly holder: string | undefined };

export interface ScheduledOutcome {
  readonly profile: string;
  /** The run queued for this slot, or undefined when the slot had been claimed before or a limit refused it. */
  readonly runId: string | undefined;
  /** Why no run was queued when a run limit refused it (the profile has enough runs in flight). */
  readonly limited?: string;
}

/** What one run needs once its lock is held, whichever door started it. */
interface LockedRun {
  readonly runId: string;
  readonly profile: string;
  readonly source: ExportSource;
  readonly trigger: Trigger;
  readonly query: ValidatedQuery;
  readonly formats: JobMessage["formats"];
  readonly correlationId: string;
  readonly lock: ProfileLock;
  /** A failure that will not be retried (the CLI's one attempt, a job's last delivery). */
  readonly lastAttempt: boolean;
  readonly abortSignal: AbortSignal | undefined;
  readonly onProgress: ((progress: ExportProgress) => void) | undefined;
  readonly log: Logger;
}

/**
 * The core behind every door (HTTP, timer, queue worker, CLI, dev host): records runs, queues
 * jobs, and runs an export under its profile's lock with at-least-once-safe bookkeeping.
 */
export class RunService {
  private readonly logger: Logger;
  private readonly endings: RunEndings;
  private readonly now: () => Date;
  private readonly maxDequeueCount: number;
  private readonly lockRetryDelaySeconds: number;
  private readonly admissions: RunAdmissions;
  /** Exports running in this process, so a stopping host can wait for their clean-up. */
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly deps: RunServiceDeps) {
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? (() => new Date());
    this.maxDequeueCount = deps.maxDequeueCount ?? JOB_MAX_DEQUEUE_COUNT;
    this.lockRetryDelaySeconds = deps.lockRetryDelaySeconds ?? LOCK_RETRY_DELAY_SECONDS;
    this.admissions = new RunAdmissions(
      deps.store.container,
      (runId) => deps.store.get(runId),
      deps.limits ?? DEFAULT_RUN_LIMITS,
    );
    this.endings = new RunEndings({
      store: deps.store,
      locks: deps.locks,
      exportContainer: deps.exportContainer,
      profiles: deps.profiles,
      telemetry: deps.telemetry ?? noTelemetry,
      logger: this.logger,
      now: this.now,
      maxDequeueCount: this.maxDequeueCount,
    });
  }

  /**
   * A job moved to the poison queue after its last delivery: its run, if not finished, is recorded
   * as failed with the last attempt's reason and the number of deliveries.
   */
  markPoisoned(runId: string, poisonQueue: string): Promise<RunRecord | undefined> {
    return this.endings.markPoisoned(runId, poisonQueue);
  }

  /** Marks a run failed (used when its job cannot be read, or lands in the poison queue). */
  markFailed(runId: string, error: RunError): Promise<RunRecord | undefined> {
    return this.endings.markFailed(runId, error);
  }

  get profiles(): readonly ExportProfile[] {
    return this.deps.profiles;
  }

  get exportContainer(): ContainerClient {
    return this.deps.exportContainer;
  }

  /**
   * Records a queued run and enqueues its job, unless a run of the profile is in progress (without
   * `force`) or a run limit is reached (with or without it).
   */
  async submit(request: ResolvedExportRequest, options: SubmitOptions): Promise<SubmitOutcome> {
    const now = this.now();
    if (options.force !== true) {
      const active = await this.deps.store.findActive(request.profile, now);
      if (active) return { kind: "conflict", active };
    }
    // The first thing any door does for a profile: a publish a dead process left half done is settled.
    await this.endings.settleIfIdle(request.profile, options.logger ?? this.logger);
    const problem = await this.targetProblem(request);
    if (problem) return { kind: "invalid", errors: [problem] };
    const runId = options.runId ?? newRunId(now);
    const admission = await this.admit(request, runId, now, options.logger ?? this.logger);
    if (isLimitRefusal(admission)) return admission;
    const run = this.newRecord(request, options.trigger, runId, now);
    const log = (options.logger ?? this.logger).child({
      runId: run.runId,
      correlationId: run.correlationId,
      profile: run.profile,
    });
    try {
      await this.deps.store.create(run);
    } catch (error) {
      await admission.release().catch(() => undefined);
      throw error;
    }
    const message: JobMessage = {
      runId: run.runId,
      profile: run.profile,
      source: request.source,
      trigger: options.trigger,
      // Referrals jobs leave the dataset out, so a worker of an earlier version still reads them.
      ...(run.dataset !== undefined && run.dataset !== "referrals" ? { dataset: run.dataset } : {}),
      query: run.query,
      formats: [...request.formats],
      correlationId: run.correlationId,
    };
    try {
      await this.deps.queue.send(message);
    } catch (error) {
      log.error("Could not queue the export job", { error });
      await this.endings
        .finish(run.runId, "failed", {
          error: { reason: "storage", message: "The export job could not be queued; try again" },
        })
        .catch(() => undefined);
      // A run that never got its job does not count against the ad-hoc hour.
      await admission.release().catch(() => undefined);
      throw error;
    }
    log.info("Export queued", {
      trigger: options.trigger,
      formats: run.formats,
      force: options.force === true,
    });
    return { kind: "accepted", run };
  }

  /**
   * Runs an export in this process now (the CLI): the same checks as `submit`, the same profile
   * lock as the worker, and the run recorded like any other, so every door lists it.
   */
  async runNow(request: ResolvedExportRequest, options: RunNowOptions): Promise<RunNowOutcome> {
    const now = this.now();
    const active = await this.deps.store.findActive(request.profile, now);
    if (active?.status === "queued") return { kind: "conflict", active };
    const problem = await this.targetProblem(request);
    if (problem) return { kind: "invalid", errors: [problem] };
    const runId = newRunId(now);
    const lock = await this.deps.locks.tryAcquire(request.profile, `${options.trigger}:${runId}`);
    if (!lock) return { kind: "busy", holder: await this.deps.locks.holder(request.profile) };
    try {
      // A run recorded as running whose lock was free has lost its process (killed, crashed).
      if (active) await this.endings.markAbandoned(active);
      const admission = await this.admit(request, runId, now, options.logger ?? this.logger);
      if (isLimitRefusal(admission)) return admission;
      await this.endings.settleLocked(request.profile, options.logger ?? this.logger);
      // Recorded as running from the start: it holds the lock already, and a process killed
      // before its first heartbeat must not leave a "queued" run that blocks the profile.
      const stamp = now.toISOString();
      const run: RunRecord = {
        ...this.newRecord(request, options.trigger, runId, now),
        status: "running",
        heartbeatAt: stamp,
      };
      try {
        await this.deps.store.create(run);
      } catch (error) {
        await admission.release().catch(() => undefined);
        throw error;
      }
      const outcome = await this.track(
        this.runLocked({
          runId,
          profile: run.profile,
          source: request.source,
          trigger: options.trigger,
          query: request.query,
          formats: run.formats,
          correlationId: run.correlationId,
          lock,
          lastAttempt: true,
          abortSignal: options.abortSignal,
          onProgress: options.onProgress,
          log: (options.logger ?? this.logger).child({
            runId,
            correlationId: run.correlationId,
            profile: run.profile,
          }),
        }),
      );
      if (outcome.kind === "retry") {
        // One attempt only: runLocked has recorded the failure already.
        const failed = await this.deps.store.get(runId);
        if (!failed) throw outcome.error;
        return { kind: "failed", run: failed };
      }
      if (outcome.kind === "succeeded" || outcome.kind === "failed") return outcome;
      throw new Error(`run ${runId} ended as '${outcome.kind}', which a run in this process cannot`);
    } finally {
      await lock.release();
    }
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    return this.deps.store.get(runId);
  }

  async list(options: { profile?: string; limit?: number }): Promise<RunRecord[]> {
    return this.deps.store.list(options);
  }

  /**
   * One page of runs, newest first; pass the page's `continuationToken` back for the next. A token
   * of another listing, or one changed since it was issued, throws InvalidContinuationTokenError.
   */
  async listPage(options: ListPageOptions): Promise<RunPage> {
    return this.deps.store.listPage(options);
  }

  /** Resolves when the exports running in this process have ended, or after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    if (this.running.size === 0) return;
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([Promise.allSettled([...this.running]).then(() => undefined), timeout]);
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
        const outcome = await this.submit(
          { profile: profile.name, source: "profile", query: profile.query, formats: profile.formats },
          { trigger: "timer", force: true, logger, runId },
        );
        if (outcome.kind === "limited") {
          // Enough runs of the profile are in flight already; one of them makes the snapshot.
          await this.deps.store.releaseSlot(profile.name, slotName).catch(() => undefined);
          logger.warn("Scheduled export not queued: a run limit is reached", {
            profile: profile.name,
            slot: slotName,
            limit: outcome.limit,
            reason: outcome.message,
          });
          outcomes.push({ profile: profile.name, runId: undefined, limited: outcome.message });
          continue;
        }
        if (outcome.kind !== "accepted")
          throw new Error(`profile ${profile.name} was not queued (${outcome.kind})`);
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
      query = validateQuerySpec(message.query, message.dataset ?? "referrals");
    } catch (error) {
      if (!isQueryValidationError(error)) throw error;
      const run = await this.endings.finish(message.runId, "failed", {
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
      return await this.track(
        this.runLocked({
          runId: message.runId,
          profile: message.profile,
          source: jobSource(message),
          trigger: message.trigger,
          query,
          formats: message.formats,
          correlationId: message.correlationId,
          lock,
          lastAttempt: options.dequeueCount >= this.maxDequeueCount,
          abortSignal: options.abortSignal,
          onProgress: undefined,
          log,
        }),
      );
    } finally {
      await lock.release();
    }
  }

  /**
   * The request's places under the run limits (runLimits.ts): an active-run slot of its profile
   * and, for an ad-hoc export, one of the app's ad-hoc slots of the hour; or the refusal.
   */
  private async admit(
    request: ResolvedExportRequest,
    runId: string,
    now: Date,
    logger: Logger,
  ): Promise<Admission | LimitRefusal> {
    const active = await this.admissions.admitActive(request.profile, request.source, runId, now);
    let outcome: Admission | LimitRefusal = active;
    if (!isLimitRefusal(active) && request.source === "adhoc") {
      let adhoc: Admission | LimitRefusal;
      try {
        adhoc = await this.admissions.admitAdhoc(runId, now);
      } catch (error) {
        await active.release().catch(() => undefined);
        throw error;
      }
      if (isLimitRefusal(adhoc)) await active.release().catch(() => undefined);
      outcome = isLimitRefusal(adhoc) ? adhoc : allAdmissions([active, adhoc]);
    }
    if (isLimitRefusal(outcome))
      logger.warn("Export refused: a run limit is reached", {
        profile: request.profile,
        limit: outcome.limit,
        retryAfterSeconds: outcome.retryAfterSeconds,
      });
    return outcome;
  }

  /** The ad-hoc publish-target rule (publishTarget.ts) for a request, whichever door it came through. */
  private targetProblem(
    request: Pick<ResolvedExportRequest, "profile" | "source" | "query">,
  ): Promise<FieldProblem | undefined> {
    return publishTargetProblem(
      this.deps.exportContainer,
      this.deps.profiles,
      request.profile,
      request.source,
      toQuerySpec(request.query),
      queryDataset(request.query).id,
    );
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    void work.finally(() => this.running.delete(work)).catch(() => undefined);
    return work;
  }

  /** One attempt of a run whose profile lock is held: export, then record the outcome. */
  private async runLocked(run: LockedRun): Promise<ExecuteOutcome> {
    const { log, lock } = run;
    await this.endings.settleLocked(run.profile, log);
    const problem = await this.targetProblem(run);
    if (problem) {
      const failed = await this.endings.finish(run.runId, "failed", {
        error: { reason: "bad_request", message: `${problem.field}: ${problem.message}` },
      });
      log.error("Export refused: its folder belongs to a configured profile");
      return { kind: "failed", run: failed };
    }
    const started = this.now().toISOString();
    await this.deps.store.update(run.runId, (r) => ({
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
        .update(run.runId, (r) =>
          r.status === "running" ? { ...r, heartbeatAt: at, updatedAt: at } : undefined,
        )
        .catch((error: unknown) => {
          log.warn("Could not record the run's heartbeat", { error });
        });
    });

    // A killed earlier attempt may have left files in this run's folder; none may survive.
    await this.removeRunFolder(run.profile, run.runId, log);

    const job: ExportJob = {
      runId: run.runId,
      profile: run.profile,
      source: run.source,
      trigger: run.trigger,
      query: run.query,
      formats: run.formats,
      correlationId: run.correlationId,
    };
    const signals = [lock.signal, ...(run.abortSignal ? [run.abortSignal] : [])];
    try {
      const result = await runExport(
        job,
        this.deps.exportEnvironment({
          abortSignal: AbortSignal.any(signals),
          confirmLock: () => lock.confirm(),
          logger: log,
          ...(run.onProgress ? { onProgress: run.onProgress } : {}),
        }),
      );
      const { manifest } = result;
      const succeeded = await this.endings.finish(
        run.runId,
        "succeeded",
        {
          rowCount: manifest.rowCount,
          manifestPath: result.manifestPath,
          files: manifest.files.map((f) => ({
            path: f.path,
            format: f.format,
            bytes: f.bytes,
            sha256: f.sha256,
            rowCount: f.rowCount,
          })),
          ...(manifest.changes
            ? {
                changes: {
                  previousRunId: manifest.changes.previousRunId,
                  note: manifest.changes.note,
                  keyFields: [...manifest.changes.keyFields],
                  added: manifest.changes.added,
                  changed: manifest.changes.changed,
                  removed: manifest.changes.removed,
                  files: manifest.changes.files.map((f) => f.path),
                },
              }
            : {}),
          warnings: [...manifest.integrity.warnings],
        },
        manifest,
      );
      return { kind: "succeeded", run: succeeded, manifest };
    } catch (caught) {
      const error = toExportError(caught);
      if (run.abortSignal?.aborted === true && error.reason === "aborted") {
        // The host is stopping: say so, and do not leave the run waiting for a redelivery that may never come.
        const why =
          run.abortSignal.reason instanceof Error ? run.abortSignal.reason.message : "the host is stopping";
        const failed = await this.endings.finish(run.runId, "failed", {
          error: {
            reason: "aborted",
            message: `Stopped before it finished: ${why}. Nothing was published; latest/ still holds the previous snapshot`,
          },
        });
        log.warn("Export stopped: the host is shutting down");
        return { kind: "failed", run: failed };
      }
      const failure: RunError = { reason: error.reason, message: error.message };
      // A refused @nextLink comes back the same on every delivery: fail now, one request, no retry.
      if (NON_RETRYABLE_REASONS.has(error.reason) || !isRetryableListingFailure(caught)) {
        const failed = await this.endings.finish(run.runId, "failed", { error: failure });
        log.error("Export failed; not retrying", { reason: error.reason });
        return { kind: "failed", run: failed };
      }
      if (run.lastAttempt) {
        await this.endings.finish(run.runId, "failed", { error: failure });
        log.error("Export failed on its last attempt", { reason: error.reason });
      } else {
        const at = this.now().toISOString();
        await this.deps.store.update(run.runId, (r) => ({
          ...r,
          status: "queued",
          updatedAt: at,
          lastError: { ...failure, at },
        }));
        log.warn("Export attempt failed; it will be retried", { reason: error.reason });
      }
      return { kind: "retry", error, final: run.lastAttempt };
    }
  }

  private newRecord(request: ResolvedExportRequest, trigger: Trigger, runId: string, now: Date): RunRecord {
    const stamp = now.toISOString();
    return {
      schemaVersion: 1,
      runId,
      profile: request.profile,
      trigger,
      status: "queued",
      correlationId: randomUUID(),
      dataset: queryDataset(request.query).id,
      query: toQuerySpec(request.query),
      formats: [...request.formats],
      queuedAt: stamp,
      updatedAt: stamp,
      attempts: 0,
    };
  }

  private async waitForLock(message: JobMessage, log: Logger): Promise<ExecuteOutcome> {
    const holder = await this.deps.locks.holder(message.profile);
    const waits = (message.lockWaits ?? 0) + 1;
    const maxWaits = Math.ceil((2 * this.deps.deadlineSeconds + 600) / this.lockRetryDelaySeconds);
    if (waits > maxWaits) {
      const run = await this.endings.finish(message.runId, "failed", {
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
      dataset: message.dataset ?? "referrals",
      query: message.query,
      formats: message.formats,
      queuedAt: stamp,
      updatedAt: stamp,
      attempts: 0,
    };
    try {
      await this.deps.store.create(run);
      return run;
    } catch (error) {
      if (!isRunStoreError(error)) throw error;
      return (await this.deps.store.get(message.runId)) ?? run;
    }
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
