/** The command an admin runs to (re)consent; every consent message names it. */
/** What restores consent: through the app (confidential client); device code where no browser can reach the app. */
export const LOGIN_COMMAND =
  "referrals-export remote consent (headless: referrals-export auth login --device-code)";

export type AuthErrorReason =
  | "consent_required"
  | "configuration"
  | "app_credential"
  | "token_endpoint"
  | "key_vault"
  | "lock"
  | "sign_in"
  | "aborted"
  | "unexpected";

/** A Partner Center sign-in failure, with a message an operator can act on. Never carries a token. */
export class AuthError extends Error {
  readonly reason: AuthErrorReason;
  /** Entra error number (without the AADSTS prefix) when Entra ID gave one. */
  readonly aadsts?: string;

  constructor(reason: AuthErrorReason, message: string, options: { aadsts?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AuthError";
    this.reason = reason;
    if (options.aadsts !== undefined) this.aadsts = options.aadsts;
  }
}

/**
 * The stored sign-in cannot be used any more (or there is none): a person must consent again with
 * `auth login`. Runs fail with this and publish nothing; the CLI exits with 3.
 */
export class ConsentRequiredError extends AuthError {
  declare readonly reason: "consent_required";

  constructor(message: string, options: { aadsts?: string; cause?: unknown } = {}) {
    super("consent_required", message, options);
    this.name = "ConsentRequiredError";
  }

  /** For a refused refresh: names the Entra code (e.g. AADSTS700082) and the command to run. */
  static forRejectedSignIn(
    aadsts: string | undefined,
    errorCode: string,
    cause?: unknown,
  ): ConsentRequiredError {
    const because = aadsts !== undefined ? `AADSTS${aadsts}` : errorCode;
    return new ConsentRequiredError(
      `Consent is needed: the stored Partner Center sign-in is no longer valid (${because}). Run: ${LOGIN_COMMAND}`,
      { ...(aadsts === undefined ? {} : { aadsts }), cause },
    );
  }

  static noStoredSignIn(secretName: string): ConsentRequiredError {
    return new ConsentRequiredError(
      `Consent is needed: no Partner Center sign-in is stored yet (Key Vault secret '${secretName}'). Run: ${LOGIN_COMMAND}`,
    );
  }
}

/** What the Entra codes behind a consent failure mean, for `auth status` and logs. */
export function explainAadsts(aadsts: string | undefined): string | undefined {
  switch (aadsts) {
    case "700082":
      return "the refresh token expired after 90 days without use";
    case "50173":
      return "the sign-in was revoked (password change or administrator revocation)";
    case "50076":
    case "50078":
    case "50079":
      return "multi-factor authentication is required for this user";
    case "65001":
      return "the app is not consented in this tenant";
    default:
      return undefined;
  }
}

/** Text for the Partner Center client to use when the API answers 403. */
export function describeForbidden(): string {
  return (
    "Partner Center refused the token (403): the token must be a delegated (App+User) token and the signed-in user " +
    "needs a Partner Center role such as Referrals admin or Referrals user (or an account-wide admin role). " +
    "Run `referrals-export auth status` to check which account is signed in."
  );
}

export function isConsentRequired(error: unknown): error is ConsentRequiredError {
  return error instanceof AuthError && error.reason === "consent_required";
}

export function isAuthError(error: unknown): error is AuthError {
  return error instanceof AuthError;
}
