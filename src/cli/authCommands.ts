import { consentWithAuthCode, consentWithDeviceCode, type ConsentOutcome } from "../auth/consent.js";
import { AuthError, explainAadsts, isConsentRequired } from "../auth/errors.js";
import type { AuthOptions } from "../auth/options.js";
import { getAuthStatus } from "../auth/status.js";

/** Exit codes shared with the rest of the CLI. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONSENT_REQUIRED = 3;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export type LoginMode = { kind: "device-code" } | { kind: "auth-code"; port?: number; openBrowser?: boolean };

/**
 * `referrals-export auth login [--device-code|--auth-code]`: a partner admin signs in once; the MSAL
 * token cache (refresh token inside) is stored in Key Vault for the unattended exports. Prints no token.
 */
export async function authLogin(options: AuthOptions, mode: LoginMode, io: CliIo): Promise<number> {
  try {
    let outcome: ConsentOutcome;
    if (mode.kind === "device-code") {
      outcome = await consentWithDeviceCode(options, {
        onPrompt: (message) => {
          io.out(message);
        },
      });
    } else {
      outcome = await consentWithAuthCode(options, {
        ...(mode.port === undefined ? {} : { port: mode.port }),
        openBrowser: mode.openBrowser ?? false,
        onUrl: (url) => {
          io.out("Open this URL in a browser and sign in with the Partner Center account:");
          io.out(url);
        },
        onInfo: (line) => {
          io.out(line);
        },
      });
    }
    io.out(`Signed in as ${outcome.username} (tenant ${outcome.tenantId}).`);
    if (outcome.clientType === "public") io.err(`Note: ${PUBLIC_CLIENT_TRADE_OFF}`);
    io.out(
      `Token cache stored in Key Vault secret '${options.tokenCacheSecretName}'${outcome.secretVersion ? ` (version ${outcome.secretVersion})` : ""}; ` +
        `refreshes will use the ${outcome.clientType} client.`,
    );
    return EXIT_OK;
  } catch (error) {
    return reportFailure(error, io, "auth login");
  }
}

/** What a public-client consent means for whoever can read the Key Vault secret. */
export const PUBLIC_CLIENT_TRADE_OFF =
  "this consent was made as a public client, so its refresh token in Key Vault can be redeemed with the client id alone, from anywhere, by anyone who can read that secret. Where the app's API is reachable, consent through the app instead: referrals-export remote consent";

/** How the stored sign-in was made, and what that means for its refresh token. */
export function describeConsent(flow: string, clientType: string): string {
  if (flow === "app-auth-code")
    return "browser sign-in through the app (confidential client: the refresh token works only with the app's credential)";
  const how = flow === "device-code" ? "device code" : "browser sign-in on this machine";
  if (clientType === "public")
    return `${how} (public client: ${PUBLIC_CLIENT_TRADE_OFF.replace(/^this consent was made as a public client, so /, "")})`;
  return `${how} (confidential client: the refresh token works only with the app's secret or certificate)`;
}

/**
 * `referrals-export auth status`: who is signed in, when the stored sign-in was last refreshed, and
 * whether a Partner Center token can be obtained now, as text or (`json`) one JSON document. Exit 0
 * ok, 3 consent needed, 1 other failure.
 */
export async function authStatus(
  options: AuthOptions,
  io: CliIo,
  output: { readonly json?: boolean } = {},
): Promise<number> {
  try {
    const report = await getAuthStatus(options);
    if (output.json) {
      // The report holds no token: the same facts as the text, as one JSON document.
      io.out(JSON.stringify(report, null, 2));
      return report.token.ok ? EXIT_OK : report.token.consentRequired ? EXIT_CONSENT_REQUIRED : EXIT_FAILURE;
    }
    io.out(`Cloud:          ${report.cloud}`);
    io.out(`Tenant:         ${report.tenantId}`);
    io.out(`Authority:      ${report.authority}`);
    io.out(`App (client):   ${report.clientId}`);
    io.out(
      `Token cache:    Key Vault ${report.keyVaultUrl} secret '${report.secretName}'${report.stored ? "" : " (not stored)"}`,
    );
    if (report.stored) {
      io.out(`Account:        ${report.account ?? "(unknown)"}`);
      if (report.consentFlow !== undefined)
        io.out(`Consented with: ${describeConsent(report.consentFlow, report.clientType ?? "confidential")}`);
      io.out(
        `Last refreshed: ${report.lastRefreshed?.toISOString() ?? "(unknown)"}${report.secretVersion ? ` (version ${report.secretVersion})` : ""}`,
      );
    }
    const token = report.token;
    if (token.ok) {
      io.out(`Token:          can be obtained now (valid until ${token.expiresOn.toISOString()})`);
      return EXIT_OK;
    }
    io.out(`Token:          cannot be obtained now`);
    if (token.explanation !== undefined) io.err(`Reason: ${token.explanation}.`);
    io.err(token.message);
    return token.consentRequired ? EXIT_CONSENT_REQUIRED : EXIT_FAILURE;
  } catch (error) {
    return reportFailure(error, io, "auth status");
  }
}

function reportFailure(error: unknown, io: CliIo, command: string): number {
  if (error instanceof AuthError) {
    const explanation = explainAadsts(error.aadsts);
    if (explanation !== undefined) io.err(`Reason: ${explanation}.`);
    io.err(error.message);
    return isConsentRequired(error) ? EXIT_CONSENT_REQUIRED : EXIT_FAILURE;
  }
  io.err(
    `${command} failed: ${error instanceof Error ? (error.message.split("\n")[0] ?? error.name) : String(error)}`,
  );
  return EXIT_FAILURE;
}
