import {
  AuthError as MsalAuthError,
  ClientAuthError,
  InteractionRequiredAuthError,
  ServerError,
} from "@azure/msal-node";
import { currentOperation } from "./context.js";
import { AuthError, ConsentRequiredError, isAuthError } from "./errors.js";

/** Entra error codes meaning "a person must sign in again". */
const CONSENT_ERRORS = new Set([
  "invalid_grant",
  "interaction_required",
  "consent_required",
  "login_required",
  "bad_token",
]);
/** MSAL client-side codes meaning the cache holds nothing usable. */
const CONSENT_CLIENT_ERRORS = new Set([
  "no_tokens_found",
  "refresh_token_expired",
  "no_account_in_silent_request",
  "native_account_unavailable",
]);

/** The AADSTS number in an MSAL error, if Entra sent one. */
export function aadstsOf(error: unknown): string | undefined {
  if (!(error instanceof MsalAuthError)) return undefined;
  const errorNo = (error as { errorNo?: unknown }).errorNo;
  if (typeof errorNo === "string" && /^\d+$/.test(errorNo)) return errorNo;
  if (typeof errorNo === "number") return String(errorNo);
  return /AADSTS(\d+)/.exec(error.errorMessage)?.[1];
}

/** Entra's own one-line description ("AADSTS7000215: Invalid client secret provided..."), without trace ids. */
function entraDescription(error: MsalAuthError): string | undefined {
  const match = /AADSTS\d+:[^\r\n]*?(?=\s+Trace ID:|\s+-\s+Correlation ID:|$)/m.exec(error.errorMessage);
  return match?.[0].slice(0, 400);
}

/**
 * Maps anything thrown while getting a token to the product's errors: consent problems become
 * ConsentRequiredError, the rest AuthError with a reason and a message that names what to check.
 */
export function toAuthError(error: unknown, clientId: string, authority: string): AuthError {
  if (isAuthError(error)) return error;
  const context = currentOperation();
  if (context?.signal.aborted) {
    const timedOut = Date.now() >= context.deadline;
    return new AuthError(
      "aborted",
      timedOut
        ? "Partner Center sign-in did not finish within its time budget"
        : "Partner Center sign-in was cancelled",
      {
        cause: error,
      },
    );
  }
  if (error instanceof MsalAuthError) {
    const code = error.errorCode;
    const aadsts = aadstsOf(error);
    const withCode = aadsts === undefined ? code : `AADSTS${aadsts}`;
    if (error instanceof InteractionRequiredAuthError || CONSENT_ERRORS.has(code)) {
      return ConsentRequiredError.forRejectedSignIn(aadsts, code, error);
    }
    if (error instanceof ClientAuthError && CONSENT_CLIENT_ERRORS.has(code)) {
      return ConsentRequiredError.forRejectedSignIn(undefined, code, error);
    }
    if (code === "invalid_client") {
      return new AuthError(
        "app_credential",
        `Entra ID rejected the app registration's credential (${withCode}${describeSuffix(error)}). Check PARTNER_CENTER_CREDENTIAL and the secret, certificate or federated credential configured on app ${clientId}.`,
        { ...(aadsts === undefined ? {} : { aadsts }), cause: error },
      );
    }
    if (code === "unauthorized_client" || aadsts === "700016" || aadsts === "90002") {
      return new AuthError(
        "configuration",
        `Entra ID does not know app ${clientId} in ${authority} (${withCode}). Check PARTNER_CENTER_CLIENT_ID, AZURE_TENANT_ID and PARTNER_CENTER_CLOUD.`,
        { ...(aadsts === undefined ? {} : { aadsts }), cause: error },
      );
    }
    if (code === "post_request_failed") {
      // Device code polling ended with an error other than authorization_pending.
      if (error.errorMessage.includes("authorization_declined"))
        return new AuthError("sign_in", "The sign-in request was declined", { cause: error });
      if (error.errorMessage.includes("expired_token")) {
        return new AuthError(
          "sign_in",
          "The device code expired before the sign-in was completed; run auth login again",
          { cause: error },
        );
      }
    }
    const status = error instanceof ServerError ? error.status : undefined;
    if (
      code === "network_error" ||
      code === "endpoints_resolution_error" ||
      code === "temporarily_unavailable" ||
      (status !== undefined && status >= 500)
    ) {
      const detail = context?.lastNetworkError ?? (status !== undefined ? `HTTP ${status}` : code);
      return new AuthError(
        "token_endpoint",
        `Could not reach the Entra ID token endpoint for ${authority} (${detail}) after retries`,
        { cause: error },
      );
    }
    return new AuthError(
      "token_endpoint",
      `Entra ID refused the token request (${withCode}${describeSuffix(error)})`,
      {
        ...(aadsts === undefined ? {} : { aadsts }),
        cause: error,
      },
    );
  }
  const message = error instanceof Error ? (error.message.split("\n")[0] ?? error.name) : String(error);
  return new AuthError("unexpected", `Partner Center sign-in failed: ${message}`, { cause: error });
}

function describeSuffix(error: MsalAuthError): string {
  const description = entraDescription(error);
  if (description !== undefined) return `: ${description.replace(/^AADSTS\d+:\s*/, "")}`;
  const first = error.errorMessage.split(/\r?\n/)[0]?.trim() ?? "";
  return first === "" ? "" : `: ${first.slice(0, 300)}`;
}

/** True for the Entra answers that mean "redeem this refresh token as the other client type". */
export function clientTypeMismatch(error: unknown): "use-public" | "use-confidential" | undefined {
  const aadsts = aadstsOf(error);
  if (aadsts === "700025") return "use-public";
  if (aadsts === "7000218") return "use-confidential";
  return undefined;
}
