import type { App } from "../app/app.js";
import {
  isSettingsError,
  loadSettings,
  requireAuthSettings,
  SettingsError,
  type Settings,
} from "../config/settings.js";
import type { CliIo } from "./io.js";

export type Env = Readonly<Record<string, string | undefined>>;

/** What a command gets from `runCli`: its settings' source, where to write, and how to build the app. */
export interface CommandContext {
  readonly env: Env;
  readonly io: CliIo;
  /** Builds the app for these settings, logging to stderr at their LOG_LEVEL. */
  open(settings: Settings): Promise<App>;
}

/**
 * Every setting read and checked in one pass; throws one SettingsError naming all problems. With
 * `signIn`, a failing load also names the missing sign-in settings, as the Functions app does at
 * start-up (once the settings load, the command checks those through the app, whose credential a
 * test may replace).
 */
export function loadCommandSettings(env: Env, options: { readonly signIn: boolean }): Settings {
  try {
    return loadSettings(env);
  } catch (error) {
    if (!isSettingsError(error) || !options.signIn) throw error;
    const problems = [...error.problems];
    try {
      requireAuthSettings({
        tenantId: env.AZURE_TENANT_ID || undefined,
        clientId: env.PARTNER_CENTER_CLIENT_ID || undefined,
        keyVaultUrl: env.KEY_VAULT_URL || undefined,
      } as Settings);
    } catch (authError) {
      if (!isSettingsError(authError)) throw authError;
      problems.push(...authError.problems);
    }
    throw new SettingsError(problems);
  }
}
