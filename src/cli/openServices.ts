import { createPartnerCenterCredential } from "../auth/credential.js";
import type { Settings } from "../config/settings.js";
import { trustLocalCa } from "../config/localTrust.js";
import { createLogger } from "../logging/logger.js";
import { authOptionsFromSettings } from "../wiring/authOptions.js";
import { createServices, type Services } from "../wiring/services.js";

/** Services for CLI commands, with the delegated credential from Key Vault. */
export function openServices(settings: Settings): Services {
  if (settings.localMode && settings.localCaCertFile) trustLocalCa(settings.localCaCertFile);
  const logger = createLogger(settings.logLevel);
  return createServices(settings, {
    logger,
    createPartnerCenterCredential: (s, locks) =>
      createPartnerCenterCredential(authOptionsFromSettings(s, locks, logger)),
  });
}
