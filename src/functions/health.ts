import type { HttpResponseInit, InvocationContext } from "@azure/functions";
import type { App, ConsentStatus } from "../app/app.js";
import { LOGIN_COMMAND } from "../auth/errors.js";
import { redact } from "../common/redact.js";
import type { ExportProfile } from "../runs/profiles.js";
import { MAX_LIST_LIMIT } from "../runs/runStore.js";
import { authorize } from "./authorize.js";
import { jsonResponse } from "./problem.js";
import { invocationLogger, type FunctionDefinition, type FunctionHost } from "./runtime.js";

/** A scheduled profile is stale without a successful run this recent: a nightly run, plus slack. */
export const HEALTH_STALE_HOURS = 26;
const HOUR_MS = 3_600_000;

export interface ProfileHealth {
  readonly name: string;
  readonly scheduled: boolean;
  /** When its newest successful run completed; null when none is among its latest runs. */
  readonly lastSuccessAt: string | null;
  readonly lastRunId: string | null;
  /** Scheduled and without a successful run in the last HEALTH_STALE_HOURS; never for unscheduled profiles. */
  readonly stale: boolean;
}

export interface HealthReport {
  readonly status: "healthy" | "unhealthy";
  readonly consent: {
    readonly state: ConsentStatus["state"];
    readonly account: string;
    /** ISO 8601, or null when unknown. */
    readonly lastRefreshAt: string | null;
    /** Null when unknown. */
    readonly ageHours: number | null;
    /** What is wrong and what to do; empty when the state is ok. */
    readonly message: string;
  };
  readonly profiles: readonly ProfileHealth[];
  /** Why the app is unhealthy, one sentence each; empty when healthy. */
  readonly reasons: readonly string[];
}

/** GET /api/health: 200 when every scheduled profile ran successfully lately and consent works, else 503. */
export function healthFunction(host: FunctionHost): FunctionDefinition {
  return {
    kind: "http",
    name: "health",
    options: {
      route: "health",
      methods: ["GET"],
      authLevel: "anonymous",
      handler: async (request, context) => {
        const authorization = await authorize(host, request, "Exports.Read");
        return authorization.ok ? checkHealth(host, context) : authorization.response;
      },
    },
  };
}

async function checkHealth(host: FunctionHost, context: InvocationContext): Promise<HttpResponseInit> {
  const log = invocationLogger(context, host.settings.logLevel);
  let report: HealthReport;
  try {
    report = await healthReport(await host.app());
  } catch (error) {
    // The app could not be built (its storage is unreachable): that is unhealthy too, and said so.
    log.error("Health check failed", { error });
    report = {
      status: "unhealthy",
      consent: { state: "error", account: "", lastRefreshAt: null, ageHours: null, message: "" },
      profiles: [],
      reasons: [`run storage could not be reached: ${messageOf(error)}`],
    };
  }
  if (report.status === "unhealthy") log.warn("Unhealthy", { reasons: report.reasons });
  return jsonResponse(report.status === "healthy" ? 200 : 503, report);
}

/** The app's health: the consent and each profile's newest successful run, read side by side. */
export async function healthReport(app: App): Promise<HealthReport> {
  const now = app.now();
  const [consent, profiles] = await Promise.all([
    app.consent(),
    Promise.all(app.settings.profiles.map((profile) => profileHealth(app, profile, now))),
  ]);
  const reasons = [...profiles.flatMap((p) => p.reasons), ...consentReasons(consent)];
  return {
    status: reasons.length === 0 ? "healthy" : "unhealthy",
    consent: {
      state: consent.state,
      account: consent.account,
      lastRefreshAt: consent.lastRefreshAt === "" ? null : consent.lastRefreshAt,
      ageHours: consent.ageHours < 0 ? null : consent.ageHours,
      message: redact(consent.message),
    },
    profiles: profiles.map((p) => p.health),
    reasons: reasons.map(redact),
  };
}

async function profileHealth(
  app: App,
  profile: ExportProfile,
  now: Date,
): Promise<{ health: ProfileHealth; reasons: string[] }> {
  const base = { name: profile.name, scheduled: profile.schedule };
  let runs;
  try {
    runs = await app.runs.list({ profile: profile.name, limit: MAX_LIST_LIMIT });
  } catch (error) {
    return {
      health: { ...base, lastSuccessAt: null, lastRunId: null, stale: profile.schedule },
      reasons: [`profile '${profile.name}': its runs could not be read: ${messageOf(error)}`],
    };
  }
  // Newest first, so the first success is the latest one.
  const success = runs.find((r) => r.status === "succeeded");
  const lastSuccessAt = success ? (success.completedAt ?? success.updatedAt) : null;
  const stale =
    profile.schedule &&
    (lastSuccessAt === null || now.getTime() - Date.parse(lastSuccessAt) > HEALTH_STALE_HOURS * HOUR_MS);
  const health = { ...base, lastSuccessAt, lastRunId: success?.runId ?? null, stale };
  if (!stale) return { health, reasons: [] };
  if (lastSuccessAt === null) {
    const among = runs.length >= MAX_LIST_LIMIT ? ` among its ${MAX_LIST_LIMIT} latest runs` : " yet";
    return { health, reasons: [`profile '${profile.name}' has no successful run${among}`] };
  }
  const hours = Math.floor((now.getTime() - Date.parse(lastSuccessAt)) / HOUR_MS);
  return {
    health,
    reasons: [
      `profile '${profile.name}' has no successful run since ${lastSuccessAt} (${hours} hours ago; expected within ${HEALTH_STALE_HOURS} hours)`,
    ],
  };
}

function consentReasons(consent: ConsentStatus): string[] {
  if (consent.state === "ok") return [];
  if (consent.state === "consent_required") return [`consent_required: run ${LOGIN_COMMAND}`];
  return [`consent_error: ${consent.message || "a Partner Center token could not be obtained"}`];
}

function messageOf(error: unknown): string {
  return error instanceof Error ? (error.message.split("\n")[0] ?? error.name) : String(error);
}
