export {
  PARTNER_CENTER_SCOPE,
  DEFAULT_TOKEN_CACHE_SECRET_NAME,
  LOCK_CONTAINER,
  TOKEN_CACHE_LOCK_BLOB,
  CHINA_NOT_OFFERED,
  authorityFor,
  tokenExchangeScope,
  validateAuthOptions,
  type AuthOptions,
  type AppCredentialOptions,
  type CloudName,
  type PartnerCenterCloud,
  type RetryOptions,
} from "./options.js";
export {
  AuthError,
  ConsentRequiredError,
  LOGIN_COMMAND,
  describeForbidden,
  explainAadsts,
  isConsentRequired,
  type AuthErrorReason,
} from "./errors.js";
export { createPartnerCenterCredential, PartnerCenterCredential, type ClientType } from "./credential.js";
export { createKeyVaultCredential, type KeyVaultCredentialOptions } from "./keyVaultCredential.js";
export {
  consentWithDeviceCode,
  consentWithAuthCode,
  type ConsentOutcome,
  type ConsentFlow,
  type DeviceCodeConsentOptions,
  type AuthCodeConsentOptions,
} from "./consent.js";
export { getAuthStatus, type AuthStatusReport, type TokenCheck } from "./status.js";
export { consoleAuthLogger, type AuthLogger, type AuthLogLevel } from "./logging.js";
/** Kept here for callers of the auth module; the one redaction lives in common/. */
export { redact } from "../common/redact.js";
export { TOKEN_CACHE_CONTENT_TYPE, type TokenCacheTags } from "./keyVaultStore.js";
