import { randomBytes } from "node:crypto";

const RUN_ID = /^\d{8}T\d{6}Z-[a-z0-9]{6}$/;

/** A run id that sorts by start time: `20261124T020000Z-k3x9qa`. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const suffix = Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join("");
  return `${stamp}-${suffix}`;
}

export function isRunId(value: string): boolean {
  return RUN_ID.test(value);
}

/** `YYYY-MM-DD` of the run's start, from its id. */
export function snapshotDateOf(runId: string): string {
  return `${runId.slice(0, 4)}-${runId.slice(4, 6)}-${runId.slice(6, 8)}`;
}
