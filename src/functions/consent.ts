import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { isAuthError } from "../auth/errors.js";
import { redact } from "../common/redact.js";
import { guarded } from "./httpExports.js";
import { jsonResponse, PROBLEM_TYPES, problemResponse } from "./problem.js";
import { invocationLogger, type FunctionDefinition, type FunctionHost } from "./runtime.js";

export const CONSENT_CALLBACK_ROUTE = "consent/callback";

/**
 * Consent through the app: POST /api/consent (Exports.Admin) answers the sign-in URL to open;
 * Entra ID sends the browser back to GET /api/consent/callback, where the app's confidential
 * client redeems the code. The refresh token kept in Key Vault is then bound to the app's credential.
 */
export function consentFunctions(host: FunctionHost): FunctionDefinition[] {
  return [
    {
      kind: "http",
      name: "consent",
      options: {
        route: "consent",
        methods: ["POST"],
        authLevel: "anonymous",
        handler: (request, context) =>
          guarded(host, request, context, "Exports.Admin", async (log, caller) => {
            const redirectUri = redirectUriFor(host, request);
            if (!redirectUri)
              return problemResponse({
                type: PROBLEM_TYPES.consentUnavailable,
                title: "Consent through the app is not set up",
                status: 503,
                detail:
                  "The app does not know its public address: set CONSENT_REDIRECT_URI to https://<host>/api/consent/callback (App Service sets WEBSITE_HOSTNAME, which gives it by default)",
                setting: "CONSENT_REDIRECT_URI",
              });
            const app = await host.app();
            const who = caller.name ?? `${caller.kind} ${caller.objectId}`;
            const started = await app.beginConsent({ redirectUri, requestedBy: who });
            log.info("Consent requested", { redirectUri, expiresAt: started.expiresAt });
            return jsonResponse(201, {
              authorizeUrl: started.authorizeUrl,
              redirectUri: started.redirectUri,
              expiresAt: started.expiresAt,
              next: "Open authorizeUrl in a browser and sign in as a Partner Center admin of the partner's tenant; the page you land on says whether the consent was stored",
            });
          }),
      },
    },
    {
      kind: "http",
      name: "consentCallback",
      options: {
        route: CONSENT_CALLBACK_ROUTE,
        methods: ["GET"],
        // A browser arriving from Entra ID carries no bearer token: the single-use state is the proof.
        authLevel: "anonymous",
        handler: (request, context) => completeConsent(host, request, context),
      },
    },
  ];
}

function redirectUriFor(host: FunctionHost, request: HttpRequest): string | undefined {
  if (host.settings.consentRedirectUri) return host.settings.consentRedirectUri;
  // Only the dev host (local mode) may take the address from the request itself.
  if (!host.settings.localMode) return undefined;
  return `${new URL(request.url).origin}/api/${CONSENT_CALLBACK_ROUTE}`;
}

async function completeConsent(
  host: FunctionHost,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const log = invocationLogger(context, host.settings.logLevel);
  const q = request.query;
  const reply = {
    ...optional("code", q.get("code")),
    ...optional("state", q.get("state")),
    ...optional("error", q.get("error")),
    ...optional("errorDescription", q.get("error_description")),
  };
  try {
    const app = await host.app();
    const outcome = await app.completeConsent(reply);
    log.info("Consent stored", {
      account: outcome.username,
      requestedBy: outcome.requestedBy,
      consentFlow: outcome.consentFlow,
      clientType: outcome.clientType,
    });
    return page(
      200,
      "Consent stored",
      `The sign-in of ${outcome.username} is stored in Key Vault for this app's exports. You can close this window.`,
    );
  } catch (error) {
    if (isAuthError(error)) {
      log.warn("Consent not completed", { reason: error.reason, error });
      return page(400, "Consent not stored", error.message);
    }
    log.error("Consent failed", { error });
    return page(
      500,
      "Consent not stored",
      `The consent could not be completed; the logs of invocation ${context.invocationId} say why. Start again with POST /api/consent.`,
    );
  }
}

/** A minimal page: no script, nothing loaded, not cached, and the code in the URL not passed on. */
function page(status: number, title: string, text: string): HttpResponseInit {
  const body = `<!doctype html><meta charset="utf-8"><title>referrals-export: ${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(redact(text))}</p>`;
  return {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'",
      "referrer-policy": "no-referrer",
      "x-content-type-options": "nosniff",
    },
    body,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function optional<K extends string>(key: K, value: string | null): Partial<Record<K, string>> {
  return value === null ? {} : ({ [key]: value } as Partial<Record<K, string>>);
}
