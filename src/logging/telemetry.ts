import { logs, SeverityNumber, type AnyValueMap, type LoggerProvider } from "@opentelemetry/api-logs";
import { redact } from "../common/redact.js";
import {
  CONSENT_EVENT,
  CONSENT_EVENT_FIELDS,
  RUN_EVENT,
  RUN_EVENT_FIELDS,
  type ConsentEventField,
  type RunEventField,
} from "./telemetryEvents.js";

type FieldKind = "string" | "number" | "boolean";
type ValueOf<K extends FieldKind> = K extends "string" ? string : K extends "number" ? number : boolean;

/**
 * The value kind of every contract field but `event` (which is the event's name). `satisfies`
 * makes a field added to or removed from telemetryEvents.ts a type error here until both agree.
 */
const RUN_FIELD_KINDS = {
  runId: "string",
  profile: "string",
  dataset: "string",
  trigger: "string",
  status: "string",
  reason: "string",
  rows: "number",
  pages: "number",
  durationMs: "number",
  retries: "number",
  throttled: "number",
  bytes: "number",
  scheduled: "boolean",
} as const satisfies Record<Exclude<RunEventField, "event">, FieldKind>;

const CONSENT_FIELD_KINDS = {
  state: "string",
  account: "string",
  lastRefreshAt: "string",
  ageHours: "number",
  clientType: "string",
} as const satisfies Record<Exclude<ConsentEventField, "event">, FieldKind>;

/** The fields of one `export.run` event (see telemetryEvents.ts). */
export type RunEvent = {
  readonly [K in keyof typeof RUN_FIELD_KINDS]: ValueOf<(typeof RUN_FIELD_KINDS)[K]>;
};

/** The fields of one `consent.state` event (see telemetryEvents.ts). */
export type ConsentEvent = {
  readonly [K in keyof typeof CONSENT_FIELD_KINDS]: ValueOf<(typeof CONSENT_FIELD_KINDS)[K]>;
};

/** Where the run service and the consent report send their events. Emitting never throws. */
export interface RunTelemetry {
  emitRun(event: RunEvent): void;
  emitConsent(event: ConsentEvent): void;
}

/** Drops every event. */
export const noTelemetry: RunTelemetry = {
  emitRun: () => undefined,
  emitConsent: () => undefined,
};

export const TELEMETRY_LOGGER_NAME = "referrals-export";

/**
 * Events as OpenTelemetry log records: body = the event name, attributes = the contract's fields
 * (Application Insights files them as AppTraces, Message = body, Properties = attributes). Without
 * `provider` the global logger provider is looked up on each event, so a provider registered after
 * the app was built (or none: the API's no-op) is the one used.
 */
export function openTelemetryRunTelemetry(provider?: LoggerProvider): RunTelemetry {
  const emit = (name: string, severity: SeverityNumber, attributes: AnyValueMap): void => {
    try {
      (provider ?? logs).getLogger(TELEMETRY_LOGGER_NAME).emit({
        body: name,
        severityNumber: severity,
        severityText: severity === SeverityNumber.INFO ? "INFO" : "WARN",
        attributes,
      });
    } catch {
      // Telemetry is never a reason for a run or a timer to fail.
    }
  };
  return {
    emitRun(event) {
      const severity = event.status === "succeeded" ? SeverityNumber.INFO : SeverityNumber.WARN;
      emit(RUN_EVENT, severity, contractAttributes(RUN_EVENT, RUN_EVENT_FIELDS, RUN_FIELD_KINDS, event));
    },
    emitConsent(event) {
      const severity = event.state === "ok" ? SeverityNumber.INFO : SeverityNumber.WARN;
      emit(
        CONSENT_EVENT,
        severity,
        contractAttributes(CONSENT_EVENT, CONSENT_EVENT_FIELDS, CONSENT_FIELD_KINDS, event),
      );
    },
  };
}

/**
 * The attributes of an event, built from the contract's field list only: whatever else the
 * caller's object holds never leaves the process. Strings are redacted, numbers finite (else 0).
 */
export function contractAttributes<F extends string>(
  name: string,
  fields: readonly F[],
  kinds: Readonly<Record<Exclude<F, "event">, FieldKind>>,
  values: Readonly<Record<Exclude<F, "event">, unknown>>,
): AnyValueMap {
  const out: AnyValueMap = {};
  for (const field of fields) {
    if (field === "event") {
      out[field] = name;
      continue;
    }
    const key = field as Exclude<F, "event">;
    const value = values[key];
    switch (kinds[key]) {
      case "string":
        out[field] = typeof value === "string" ? redact(value) : "";
        break;
      case "number":
        out[field] = typeof value === "number" && Number.isFinite(value) ? value : 0;
        break;
      case "boolean":
        out[field] = value === true;
        break;
    }
  }
  return out;
}
