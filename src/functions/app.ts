import {
  DEFAULT_SCHEDULE,
  SettingsError,
  isSettingsError,
  loadSettings,
  requireAuthSettings,
  type Settings,
} from "../config/settings.js";
import { consentFunctions } from "./consent.js";
import { consentReportFunction } from "./consentReport.js";
import { healthFunction } from "./health.js";
import { httpExportFunctions } from "./httpExports.js";
import { isScheduleError, parseSchedule, type Schedule } from "./ncrontab.js";
import { exportWorkerFunction, poisonedJobFunction } from "./queueWorker.js";
import type { FunctionDefinition, FunctionHost } from "./runtime.js";
import { nightlyTimerFunction } from "./timerNightly.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface AppSettings {
  readonly settings: Settings;
  readonly schedule: Schedule;
}

/**
 * Reads and checks every setting the app needs at start-up and throws one SettingsError that
 * names every bad one, so a misconfigured app fails before it serves anything.
 */
export function loadAppSettings(env: Env, options: { requireAuth?: boolean } = {}): AppSettings {
  const problems: string[] = [];
  let settings: Settings | undefined;
  try {
    settings = loadSettings(env);
  } catch (error) {
    if (!isSettingsError(error)) throw error;
    problems.push(...error.problems);
  }
  if (options.requireAuth !== false) {
    // Checked even when other settings failed, so the one message names these too.
    const auth = settings ?? {
      tenantId: env.AZURE_TENANT_ID || undefined,
      clientId: env.PARTNER_CENTER_CLIENT_ID || undefined,
      keyVaultUrl: env.KEY_VAULT_URL || undefined,
    };
    try {
      requireAuthSettings(auth as Settings);
    } catch (error) {
      if (!isSettingsError(error)) throw error;
      problems.push(...error.problems.filter((p) => !problems.includes(p)));
    }
  }
  let schedule: Schedule | undefined;
  const expression = settings?.schedule ?? (env.EXPORT_SCHEDULE || DEFAULT_SCHEDULE);
  try {
    schedule = parseSchedule(expression);
  } catch (error) {
    if (!isScheduleError(error)) throw error;
    if (!problems.some((p) => p.startsWith("EXPORT_SCHEDULE")))
      problems.push(`EXPORT_SCHEDULE: ${error.message}`);
  }
  if (problems.length > 0 || !settings || !schedule) throw new SettingsError(problems);
  return { settings, schedule };
}

/** Every function of the app, for `app.*` registration and for the dev host alike. */
export function appFunctions(host: FunctionHost, schedule: Schedule): FunctionDefinition[] {
  return [
    ...httpExportFunctions(host),
    healthFunction(host),
    ...consentFunctions(host),
    nightlyTimerFunction(host, schedule),
    exportWorkerFunction(host),
    poisonedJobFunction(host),
    // After the nightly timer: the dev host fires the first timer it finds on the export schedule.
    consentReportFunction(host),
  ];
}
