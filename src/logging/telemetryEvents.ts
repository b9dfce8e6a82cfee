/**
 * The telemetry contract: the events the app sends to Application Insights and their fields. The
 * alert rules and the workbook in infra/ query these names (AppTraces, `Properties.<field>`), and a
 * test checks every query against this file, so renaming a field breaks a test instead of an alert.
 * No field may carry a token, a secret or a customer's name.
 */

/** One event per run, when it ends (succeeded or failed). */
export const RUN_EVENT = "export.run";

export const RUN_EVENT_FIELDS = [
  "event",
  "runId",
  "profile",
  /** The Partner Center analytics dataset exported (referrals, subscriptions, ...). */
  "dataset",
  /** http | timer | cli */
  "trigger",
  /** succeeded | failed */
  "status",
  /** The failure reason (consent_required, upstream, ...); empty when the run succeeded. */
  "reason",
  "rows",
  "pages",
  "durationMs",
  "retries",
  "throttled",
  /** Bytes of the data files written. */
  "bytes",
  /** Whether the profile runs on the nightly schedule. */
  "scheduled",
] as const;

/** Once a day: the stored consent's state. */
export const CONSENT_EVENT = "consent.state";

export const CONSENT_EVENT_FIELDS = [
  "event",
  /** ok | consent_required | error */
  "state",
  /** The signed-in admin's user name (no token). */
  "account",
  /** When the refresh token was last used, ISO 8601; empty when unknown. */
  "lastRefreshAt",
  /** Hours since then; -1 when unknown. */
  "ageHours",
  /** confidential (the app's credential is needed to redeem it) or public (device code). */
  "clientType",
] as const;

export type RunEventField = (typeof RUN_EVENT_FIELDS)[number];
export type ConsentEventField = (typeof CONSENT_EVENT_FIELDS)[number];
