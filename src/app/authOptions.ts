import type { ContainerClient } from "@azure/storage-blob";
import { createKeyVaultCredential } from "../auth/keyVaultCredential.js";
import type { AuthLogger } from "../auth/logging.js";
import type { AuthOptions } from "../auth/options.js";
import { requireAuthSettings, type Settings } from "../config/settings.js";
import type { Logger } from "../logging/logger.js";

/** Sends the auth module's messages (already redacted there) through the product's JSON logger. */
export function authLoggerFrom(logger: Logger): AuthLogger {
  return {
    log(level, message) {
      if (level === "error") logger.error(message, { component: "auth" });
      else if (level === "warning") logger.warn(message, { component: "auth" });
      else if (level === "info") logger.info(message, { component: "auth" });
      else logger.debug(message, { component: "auth" });
    },
  };
}

/** AuthOptions from settings; throws SettingsError when a sign-in setting is missing. */
export function authOptionsFromSettings(
  settings: Settings,
  lock: ContainerClient,
  logger: Logger,
  overrides: Partial<AuthOptions> = {},
): AuthOptions {
  requireAuthSettings(settings);
  const managedIdentityClientId =
    settings.appCredential.kind === "managed-identity"
      ? settings.appCredential.managedIdentityClientId
      : undefined;
  return {
    cloud: settings.cloud,
    tenantId: settings.tenantId ?? "",
    clientId: settings.clientId ?? "",
    ...(settings.authorityHost ? { authorityHost: settings.authorityHost } : {}),
    credential: settings.appCredential,
    keyVaultUrl: settings.keyVaultUrl ?? "",
    tokenCacheSecretName: settings.tokenCacheSecretName,
    keyVaultCredential: createKeyVaultCredential({
      localMode: settings.localMode,
      ...(settings.localMode && settings.authorityHost ? { authorityHost: settings.authorityHost } : {}),
      ...(managedIdentityClientId ? { managedIdentityClientId } : {}),
    }),
    lock,
    localMode: settings.localMode,
    logger: authLoggerFrom(logger),
    msalLogLevel: settings.logLevel === "debug" ? "verbose" : "warning",
    ...overrides,
  };
}
