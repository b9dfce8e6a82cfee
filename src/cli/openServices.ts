import { createPartnerCenterCredential } from "../auth/credential.js";
import type { Settings } from "../config/settings.js";
import { trustLocalCa } from "../config/localTrust.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { authOptionsFromSettings } from "../wiring/authOptions.js";
import { createServices, type Services } from "../wiring/services.js";

/** Services for CLI commands, with the delegated credential from Key Vault. */
export function openServices(settings: Settings, logger: Logger = createLogger(settings.logLevel)): Services {
  if (settings.localMode && settings.localCaCertFile) trustLocalCa(settings.localCaCertFile);
  return createServices(settings, {
    logger,
    createPartnerCenterCredential: (s, locks) =>
      createPartnerCenterCredential(authOptionsFromSettings(s, locks, logger)),
  });
}
