import type { ContainerClient } from "@azure/storage-blob";
import type { Manifest } from "../export/manifest.js";
import { settleInterruptedPublish } from "../export/publish.js";
import type { Logger } from "../logging/logger.js";
import type { RunTelemetry } from "../logging/telemetry.js";
import type { ProfileLocks } from "./profileLock.js";
import type { ExportProfile } from "./profiles.js";
import { isRunStoreError, type RunError, type RunRecord, type RunStore } from "./runStore.js";

const isFinished = (run: RunRecord): boolean => run.status === "succeeded" || run.status === "failed";

export interface RunEndingsDeps {
  readonly store: RunStore;
  readonly locks: ProfileLocks;
  readonly exportContainer: ContainerClient;
  readonly profiles: readonly ExportProfile[];
  readonly telemetry: RunTelemetry;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Deliveries of a job before the host moves it to the poison queue. */
  readonly maxDequeueCount: number;
}

/**
 * How runs end in the run store: recorded succeeded or failed once, with their `export.run`
 * event; and runs whose process died — a publish it left half done, a record still saying
 * running under a free lock, a job the host poisoned — recorded as failed, saying why.
 */
export class RunEndings {
  constructor(private readonly deps: RunEndingsDeps) {}

  private now(): Date {
    return this.deps.now();
  }

  private get logger(): Logger {
    return this.deps.logger;
  }

  private get maxDequeueCount(): number {
    return this.deps.maxDequeueCount;
  }

  private get telemetry(): RunTelemetry {
    return this.deps.telemetry;
  }

  /**
   * Settles a publish whose process died (see export/publish.ts), holding the profile's lock, so
   * `latest/` is one whole run again before anything else happens; the run that died is recorded
   * as failed, saying what `latest/` holds now.
   */
  async settleLocked(profile: string, log: Logger): Promise<void> {
    const settled = await settleInterruptedPublish(this.deps.exportContainer, profile);
    if (settled.kind === "none") return;
    const message =
      settled.kind === "rolled-forward"
        ? "Its process stopped while publishing; latest/ was completed with this run's files, as the previous run's were gone"
        : settled.restoredRunId === null
          ? "Its process stopped while publishing; latest/ was emptied again, as before this run"
          : `Its process stopped while publishing; latest/ was put back to run ${settled.restoredRunId}`;
    log.warn("Settled a publish its process left unfinished", {
      profile,
      runId: settled.runId,
      action: settled.kind,
    });
    const at = this.now().toISOString();
    await this.updateEnding(settled.runId, (r) =>
      r.status === "succeeded" || (r.status === "failed" && r.error?.message === message)
        ? undefined
        : { ...r, status: "failed", completedAt: at, updatedAt: at, error: { reason: "aborted", message } },
    ).catch(() => undefined); // a run of an earlier version may have no record
  }

  /** Settles an interrupted publish when nobody holds the profile (whoever does settles it first). */
  async settleIfIdle(profile: string, log: Logger): Promise<void> {
    const lock = await this.deps.locks.tryAcquire(profile, "settling");
    if (!lock) return;
    try {
      await this.settleLocked(profile, log);
    } finally {
      await lock.release();
    }
  }

  /** Records a running run whose process is gone (its lock was free) as failed, saying so. */
  async markAbandoned(run: RunRecord): Promise<void> {
    const at = this.now().toISOString();
    await this.updateEnding(run.runId, (r) =>
      r.status === "running"
        ? {
            ...r,
            status: "failed",
            completedAt: at,
            updatedAt: at,
            error: {
              reason: "aborted",
              message:
                "Its process stopped before it finished (killed or crashed); nothing of it was published",
            },
          }
        : undefined,
    ).catch((error: unknown) => {
      this.logger.warn("Could not record an abandoned run as failed", { runId: run.runId, error });
    });
  }

  /**
   * A job moved to the poison queue after its last delivery: its run, if not finished, is recorded
   * as failed with the last attempt's reason and the number of deliveries.
   */
  async markPoisoned(runId: string, poisonQueue: string): Promise<RunRecord | undefined> {
    const at = this.now().toISOString();
    try {
      return await this.updateEnding(runId, (r) => {
        if (r.status === "succeeded" || r.status === "failed") return undefined;
        const last = r.lastError;
        return {
          ...r,
          status: "failed",
          completedAt: at,
          updatedAt: at,
          error: {
            reason: last?.reason ?? "aborted",
            message:
              `Gave up after ${this.maxDequeueCount} deliveries of its job (moved to ${poisonQueue}); ` +
              (last
                ? `the last attempt failed: ${last.message}`
                : `its process stopped before finishing ${r.attempts} of them`),
          },
        };
      });
    } catch (caught) {
      if (isRunStoreError(caught)) return undefined;
      throw caught;
    }
  }

  /** Marks a run failed (used when its job cannot be read, or lands in the poison queue). */
  async markFailed(runId: string, error: RunError): Promise<RunRecord | undefined> {
    try {
      return await this.finish(runId, "failed", { error });
    } catch (caught) {
      if (isRunStoreError(caught)) return undefined;
      throw caught;
    }
  }

  async finish(
    runId: string,
    status: "succeeded" | "failed",
    fields: Partial<
      Pick<RunRecord, "error" | "rowCount" | "manifestPath" | "files" | "changes" | "warnings">
    >,
    manifest?: Manifest,
  ): Promise<RunRecord> {
    const now = this.now();
    const at = now.toISOString();
    return this.updateEnding(
      runId,
      (r) => {
        const { lastError: _lastError, heartbeatAt: _heartbeatAt, ...rest } = r;
        return {
          ...rest,
          ...fields,
          status,
          completedAt: at,
          updatedAt: at,
          ...(r.startedAt ? { durationMs: now.getTime() - Date.parse(r.startedAt) } : {}),
        };
      },
      manifest,
    );
  }

  /**
   * `store.update` for a write that may end a run: the run's `export.run` event is emitted by the
   * write that moved it from queued/running to succeeded/failed, so each run reports once however
   * many doors, redeliveries and clean-ups touch its record.
   */
  async updateEnding(
    runId: string,
    mutate: (current: RunRecord) => RunRecord | undefined,
    manifest?: Manifest,
  ): Promise<RunRecord> {
    const write = { ended: false };
    const record = await this.deps.store.update(runId, (current) => {
      const next = mutate(current);
      // Set on every attempt: the last one is the write that was stored.
      write.ended = next !== undefined && !isFinished(current) && isFinished(next);
      return next;
    });
    if (write.ended) this.emitRunEnded(record, manifest);
    return record;
  }

  /** The run's `export.run` event; counts the manifest holds are 0 for a run that has none. */
  private emitRunEnded(run: RunRecord, manifest: Manifest | undefined): void {
    const duration =
      run.durationMs ??
      (run.startedAt && run.completedAt ? Date.parse(run.completedAt) - Date.parse(run.startedAt) : 0);
    this.telemetry.emitRun({
      runId: run.runId,
      profile: run.profile,
      dataset: run.dataset ?? "referrals",
      trigger: run.trigger,
      status: run.status,
      reason: run.status === "failed" ? (run.error?.reason ?? "internal") : "",
      rows: manifest?.rowCount ?? run.rowCount ?? 0,
      pages: manifest?.pages ?? 0,
      durationMs: Math.max(0, duration),
      retries: manifest?.partnerCenter.retries ?? 0,
      throttled: manifest?.partnerCenter.throttled ?? 0,
      bytes: (run.files ?? []).reduce((sum, file) => sum + file.bytes, 0),
      // Ad-hoc exports never carry a profile's name, so they are never scheduled.
      scheduled: this.deps.profiles.some((p) => p.name === run.profile && p.schedule),
    });
  }
}
