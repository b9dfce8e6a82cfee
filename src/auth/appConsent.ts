import { createHash, randomBytes } from "node:crypto";
import { isRestError } from "@azure/core-rest-pipeline";
import type { ContainerClient } from "@azure/storage-blob";
import { CryptoProvider } from "@azure/msal-node";
import { consentOperation, store, type ConsentOutcome } from "./consent.js";
import { AuthError } from "./errors.js";
import { createConfidentialApp, createRuntime } from "./msalApps.js";
import { PARTNER_CENTER_SCOPE, type AuthOptions } from "./options.js";

/** How long a consent link stays usable: long enough to sign in, short enough to be useless later. */
export const CONSENT_REQUEST_SECONDS = 600;
/** Where pending consent requests are kept in the locks container (infra ages them out by this prefix). */
export const CONSENT_REQUEST_PREFIX = "consent-requests/";

export interface ConsentRequest {
  /** The Entra ID sign-in page to open in a browser. */
  readonly authorizeUrl: string;
  readonly redirectUri: string;
  readonly expiresAt: string;
}

/** What the browser brings back to the redirect URI. */
export interface ConsentReply {
  readonly code?: string;
  readonly state?: string;
  readonly error?: string;
  readonly errorDescription?: string;
}

/** Kept in storage between the two steps; the PKCE verifier and nonce never leave the app. */
interface PendingConsent {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly redirectUri: string;
  readonly expiresAt: string;
  readonly requestedBy: string;
}

/**
 * Step one of consent through the app: an authorization code request with PKCE, `state` and
 * `nonce`, recorded for a single use. Only the app's confidential client can finish it.
 */
export async function beginAppConsent(
  options: AuthOptions,
  request: { readonly redirectUri: string; readonly requestedBy: string; readonly now?: Date },
): Promise<ConsentRequest> {
  const runtime = createRuntime(options);
  const now = request.now ?? new Date();
  const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
  const pending: PendingConsent = {
    state: randomBytes(32).toString("base64url"),
    nonce: randomBytes(32).toString("base64url"),
    verifier,
    redirectUri: request.redirectUri,
    expiresAt: new Date(now.getTime() + CONSENT_REQUEST_SECONDS * 1000).toISOString(),
    requestedBy: request.requestedBy,
  };
  // The URL needs no credential; building it with the confidential app keeps both steps alike.
  const app = await createConfidentialApp(runtime);
  const authorizeUrl = await app.getAuthCodeUrl({
    scopes: [PARTNER_CENTER_SCOPE],
    redirectUri: pending.redirectUri,
    codeChallenge: challenge,
    codeChallengeMethod: "S256",
    state: pending.state,
    nonce: pending.nonce,
    prompt: "select_account",
  });
  const text = JSON.stringify(pending);
  await options.lock.getBlockBlobClient(pendingBlob(pending.state)).upload(text, Buffer.byteLength(text), {
    conditions: { ifNoneMatch: "*" },
    blobHTTPHeaders: { blobContentType: "application/json" },
  });
  return { authorizeUrl, redirectUri: pending.redirectUri, expiresAt: pending.expiresAt };
}

/**
 * Step two, at the redirect URI: the request named by `state` is taken (once), checked, and its
 * code redeemed by the confidential client; the token cache replaces the stored one.
 */
export async function completeAppConsent(
  options: AuthOptions,
  reply: ConsentReply,
  now: Date = new Date(),
): Promise<ConsentOutcome & { readonly requestedBy: string }> {
  if (!reply.state) throw new AuthError("sign_in", "The sign-in reply has no state; start again");
  const pending = await takePending(options.lock, reply.state);
  if (!pending)
    throw new AuthError(
      "sign_in",
      "This sign-in reply matches no open consent request (used already, or never made); start again",
    );
  if (Date.parse(pending.expiresAt) <= now.getTime())
    throw new AuthError("sign_in", "This consent request has expired; start again");
  if (reply.error !== undefined)
    throw new AuthError(
      "sign_in",
      `Sign-in did not complete: ${reply.error}${reply.errorDescription ? ` (${reply.errorDescription.split(/\r?\n/)[0] ?? ""})` : ""}`,
    );
  if (!reply.code) throw new AuthError("sign_in", "The sign-in reply has no authorization code; start again");
  const runtime = createRuntime(options);
  const outcome = await consentOperation(runtime, 60, async (context) => {
    const app = await createConfidentialApp(runtime);
    const result = await app.acquireTokenByCode(
      {
        code: reply.code ?? "",
        redirectUri: pending.redirectUri,
        scopes: [PARTNER_CENTER_SCOPE],
        codeVerifier: pending.verifier,
        state: pending.state,
        // MSAL checks the ID token's nonce against this one, and the reply's state against `state`.
        nonce: pending.nonce,
      },
      { code: reply.code ?? "", state: reply.state },
    );
    return store(runtime, context, app.getTokenCache().serialize(), result, "app-auth-code", "confidential");
  });
  return { ...outcome, requestedBy: pending.requestedBy };
}

function pendingBlob(state: string): string {
  // Named by a hash: listing the container does not reveal a usable state.
  return `${CONSENT_REQUEST_PREFIX}${createHash("sha256").update(state).digest("hex")}.json`;
}

/** Reads and deletes the pending request in one conditional step, so a reply is honoured once. */
async function takePending(container: ContainerClient, state: string): Promise<PendingConsent | undefined> {
  const blob = container.getBlockBlobClient(pendingBlob(state));
  let text: string;
  let etag: string | undefined;
  try {
    const download = await blob.download();
    etag = download.etag;
    text = await streamText(download.readableStreamBody);
  } catch (error) {
    if (isRestError(error) && error.statusCode === 404) return undefined;
    throw error;
  }
  try {
    await blob.delete({ conditions: etag ? { ifMatch: etag } : {} });
  } catch (error) {
    if (isRestError(error) && (error.statusCode === 404 || error.statusCode === 412)) return undefined;
    throw error;
  }
  const pending = JSON.parse(text) as PendingConsent;
  return pending.state === state ? pending : undefined;
}

async function streamText(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stream) return "";
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}
