import type { BlobItem, ContainerClient } from "@azure/storage-blob";
import type { ExportSource } from "./exportRequest.js";
import { isActiveRun, isRunStoreError, isStatus, type RunRecord } from "./runStore.js";

/** What a caller can make the app do at once; `settings.limits` hands them in. */
export interface RunLimits {
  /** Runs of one profile (or ad-hoc name) that may be queued or running at once. */
  readonly maxActiveRunsPerProfile: number;
  /** Ad-hoc runs the app accepts in any rolling hour; 0 refuses them all. */
  readonly maxAdhocRunsPerHour: number;
}

/** The settings' defaults, for a run service built without limits. */
export const DEFAULT_RUN_LIMITS: RunLimits = { maxActiveRunsPerProfile: 3, maxAdhocRunsPerHour: 12 };

/**
 * When to try again after the active-runs cap: a run's end cannot be foreseen (a nightly export
 * takes minutes, a small one seconds), so a minute — twice the lock-wait delay a queued job uses
 * to look at its profile again — is short enough not to keep a caller waiting long after a run
 * ends and long enough that a polling client does not hammer the service.
 */
export const ACTIVE_RUNS_RETRY_AFTER_SECONDS = 60;
/** Ad-hoc runs refused altogether: turning them on takes a settings change, so ask again in an hour. */
export const ADHOC_DISABLED_RETRY_AFTER_SECONDS = 3600;
export const ADHOC_WINDOW_MS = 60 * 60_000;
/** A slot whose run has no record yet is held this long (the record is written right after). */
export const RESERVATION_GRACE_MS = 5 * 60_000;

const MAX_ROUNDS = 6;
const MAX_CLAIMS_PER_ROUND = 16;

export type LimitName = "active_runs" | "adhoc_per_hour";

export interface LimitRefusal {
  readonly kind: "limited";
  readonly limit: LimitName;
  readonly retryAfterSeconds: number;
  readonly message: string;
}

/** A place taken under a limit; released when the run it was taken for was not started after all. */
export interface Admission {
  release(): Promise<void>;
}

interface Slot {
  readonly index: number;
  readonly etag: string;
  readonly runId: string | undefined;
  readonly at: number | undefined;
}

/**
 * The limits hold across instances and under concurrency because each admitted run takes a
 * numbered slot blob in the runs container, and only a conditional write takes one:
 *
 * - `limits/active/{profile}/{n}` for n < maxActiveRunsPerProfile, holding the run id. A slot is
 *   free when absent, or when its run is no longer active (`isActiveRun`: ended, or stale), or
 *   when its run has no record `RESERVATION_GRACE_MS` after the slot was taken.
 * - `limits/adhoc/{n}` for n < maxAdhocRunsPerHour, holding when the run was accepted. A slot is
 *   free once that time is an hour old, which makes the window roll.
 *
 * A free slot is taken with If-None-Match: * (absent) or If-Match on the ETag it was seen with
 * (held by an ended run): of N simultaneous requests for one slot exactly one wins, the others
 * try another free slot, and with none left they are refused. Nothing has to be released when a
 * run ends — its slot is simply free from then on — so a cap can never stick; a slot is deleted
 * only when the run it was taken for is not started after all (the record or the job could not be
 * written). Slots beyond a lowered cap still count while they are held, and are never taken again.
 * Runs queued by a version without slots hold none; they stop mattering once they end.
 */
export class RunAdmissions {
  constructor(
    private readonly container: ContainerClient,
    private readonly readRun: (runId: string) => Promise<RunRecord | undefined>,
    private readonly limits: RunLimits,
  ) {}

  /** Takes one of the profile's active-run slots for `runId`, or says why not. */
  async admitActive(
    profile: string,
    source: ExportSource,
    runId: string,
    now: Date,
  ): Promise<Admission | LimitRefusal> {
    const cap = this.limits.maxActiveRunsPerProfile;
    const pool = new SlotPool(this.container, `limits/active/${profile}/`);
    const refuse = (count: number): LimitRefusal => ({
      kind: "limited",
      limit: "active_runs",
      retryAfterSeconds: ACTIVE_RUNS_RETRY_AFTER_SECONDS,
      message: `${source === "adhoc" ? "ad-hoc export" : "profile"} '${profile}' already has ${count} ${count === 1 ? "run" : "runs"} queued or running (MAX_ACTIVE_RUNS_PER_PROFILE=${cap}); try again when one ends`,
    });
    return pool.admit(
      cap,
      runId,
      now,
      async (slots) => {
        const held = await Promise.all(slots.map((slot) => this.holdsActiveRun(slot, now)));
        return slots.filter((_, i) => held[i]);
      },
      (held) => refuse(Math.max(held.length, cap)),
    );
  }

  /** Takes one of the app's ad-hoc slots of the rolling hour for `runId`, or says why not. */
  async admitAdhoc(runId: string, now: Date): Promise<Admission | LimitRefusal> {
    const cap = this.limits.maxAdhocRunsPerHour;
    if (cap <= 0)
      return {
        kind: "limited",
        limit: "adhoc_per_hour",
        retryAfterSeconds: ADHOC_DISABLED_RETRY_AFTER_SECONDS,
        message:
          "ad-hoc exports are turned off (MAX_ADHOC_RUNS_PER_HOUR=0); run a configured profile, or set MAX_ADHOC_RUNS_PER_HOUR above 0 to allow them",
      };
    const pool = new SlotPool(this.container, "limits/adhoc/");
    const inWindow = (slot: Slot): boolean =>
      slot.at !== undefined && now.getTime() - slot.at < ADHOC_WINDOW_MS;
    return pool.admit(
      cap,
      runId,
      now,
      (slots) => Promise.resolve(slots.filter(inWindow)),
      (held) => {
        // Seconds until the oldest counted run leaves the window.
        const oldest = Math.min(...held.map((s) => s.at ?? now.getTime()), now.getTime());
        const retryAfterSeconds = Math.max(1, Math.ceil((oldest + ADHOC_WINDOW_MS - now.getTime()) / 1000));
        const count = Math.max(held.length, cap);
        return {
          kind: "limited",
          limit: "adhoc_per_hour",
          retryAfterSeconds,
          message: `${count} ad-hoc ${count === 1 ? "export was" : "exports were"} accepted in the last 60 minutes (MAX_ADHOC_RUNS_PER_HOUR=${cap}); the next can be accepted in ${duration(retryAfterSeconds)}, or raise MAX_ADHOC_RUNS_PER_HOUR`,
        };
      },
    );
  }

  private async holdsActiveRun(slot: Slot, now: Date): Promise<boolean> {
    if (slot.runId === undefined) return false;
    let run: RunRecord | undefined;
    try {
      run = await this.readRun(slot.runId);
    } catch (error) {
      // A record nobody can read cannot end either: it must not hold the profile forever.
      if (isRunStoreError(error)) return false;
      throw error;
    }
    if (run) return isActiveRun(run, now);
    return slot.at !== undefined && now.getTime() - slot.at < RESERVATION_GRACE_MS;
  }
}

export function isLimitRefusal(value: Admission | LimitRefusal): value is LimitRefusal {
  return "kind" in value;
}

/** Several admissions as one: releasing it releases every slot taken. */
export function allAdmissions(admissions: readonly Admission[]): Admission {
  return {
    release: async () => {
      await Promise.all(admissions.map((a) => a.release()));
    },
  };
}

function duration(seconds: number): string {
  return seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

/** Numbered slot blobs under one prefix, each taken by a conditional write. */
class SlotPool {
  constructor(
    private readonly container: ContainerClient,
    private readonly prefix: string,
  ) {}

  async admit(
    capacity: number,
    runId: string,
    now: Date,
    held: (slots: Slot[]) => Promise<Slot[]>,
    refuse: (held: Slot[]) => LimitRefusal,
  ): Promise<Admission | LimitRefusal> {
    let lastHeld: Slot[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const slots = await this.read();
      lastHeld = await held(slots);
      if (lastHeld.length >= capacity) return refuse(lastHeld);
      const taken = new Set(lastHeld.map((s) => s.index));
      const seen = new Map(slots.map((s) => [s.index, s.etag]));
      const free = shuffle(
        Array.from({ length: capacity }, (_, index) => index).filter((index) => !taken.has(index)),
      ).slice(0, MAX_CLAIMS_PER_ROUND);
      for (const index of free) {
        const etag = await this.take(index, seen.get(index), runId, now);
        if (etag !== undefined) return { release: () => this.release(index, etag) };
      }
    }
    // Every free slot went to a simultaneous request, round after round: the pool is full.
    return refuse(lastHeld);
  }

  private name(index: number): string {
    return `${this.prefix}${String(index).padStart(4, "0")}`;
  }

  private async read(): Promise<Slot[]> {
    const slots: Slot[] = [];
    for await (const blob of this.container.listBlobsFlat({ prefix: this.prefix, includeMetadata: true })) {
      const slot = toSlot(this.prefix, blob);
      if (slot) slots.push(slot);
    }
    return slots;
  }

  /** The slot's new ETag when this write took it; undefined when another request got there first. */
  private async take(
    index: number,
    etag: string | undefined,
    runId: string,
    now: Date,
  ): Promise<string | undefined> {
    try {
      const response = await this.container.getBlockBlobClient(this.name(index)).upload("", 0, {
        metadata: { runid: runId, at: now.toISOString() },
        conditions: etag === undefined ? { ifNoneMatch: "*" } : { ifMatch: etag },
      });
      return response.etag ?? "";
    } catch (error) {
      if (isStatus(error, 409) || isStatus(error, 412)) return undefined;
      throw error;
    }
  }

  private async release(index: number, etag: string): Promise<void> {
    try {
      await this.container.deleteBlob(this.name(index), etag ? { conditions: { ifMatch: etag } } : {});
    } catch (error) {
      // Taken over already, or gone: either way the slot is no longer this run's.
      if (isStatus(error, 404) || isStatus(error, 412)) return;
      throw error;
    }
  }
}

function toSlot(prefix: string, blob: BlobItem): Slot | undefined {
  const rest = blob.name.slice(prefix.length);
  if (!blob.name.startsWith(prefix) || !/^\d{4}$/.test(rest)) return undefined;
  const at = Date.parse(blob.metadata?.at ?? "");
  return {
    index: Number(rest),
    etag: blob.properties.etag,
    runId: blob.metadata?.runid,
    at: Number.isNaN(at) ? undefined : at,
  };
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
