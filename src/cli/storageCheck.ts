import { isTokenCredential } from "@azure/core-auth";
import { createDefaultHttpClient, createPipelineRequest, isRestError } from "@azure/core-rest-pipeline";
import {
  AggregateAuthenticationError,
  AuthenticationError,
  CredentialUnavailableError,
} from "@azure/identity";
import type { App } from "../app/app.js";
import { isLoopbackHost, type Settings } from "../config/settings.js";
import { findCause, isAbortError } from "../common/errorChain.js";
import { SetupError } from "./io.js";

/** How long an endpoint may take to answer at all: the SDK's own retries would take minutes. */
const REACH_TIMEOUT_MS = 5_000;
/** The Azure credential chain may run `az` or ask a managed identity endpoint; it gets longer. */
const SIGN_IN_TIMEOUT_MS = 30_000;
const STORAGE_SCOPE = "https://storage.azure.com/.default";

/**
 * Checks, before a command's first storage call, that storage can be used at all: the Azure sign-in
 * behind EXPORT_STORAGE_ACCOUNT_URL yields a token, and the blob (and, for exports, the queue)
 * endpoint answers. Either failure becomes one SetupError (exit 2) naming the setting, the endpoint
 * and what to do, instead of the storage SDK retrying for minutes and then printing a stack of
 * causes. Anything subtler (a missing role, a bad key) is left to the command's own calls.
 */
export async function checkStorage(app: App, needs: { readonly queue: boolean }): Promise<void> {
  const setting = storageSetting(app.settings);
  const credential = app.blobService.credential;
  if (isTokenCredential(credential)) {
    try {
      await credential.getToken(STORAGE_SCOPE, { abortSignal: AbortSignal.timeout(SIGN_IN_TIMEOUT_MS) });
    } catch (error) {
      if (isAbortError(error) || findCause(error, isAzureSignInError))
        throw new SetupError(signInMessage(setting, app.blobService.url, error));
      throw error;
    }
  }
  const endpoints = [{ kind: "blob", url: app.blobService.url }];
  if (needs.queue) endpoints.push({ kind: "queue", url: app.queueService.url });
  const problems = await Promise.all(endpoints.map(async (e) => ({ ...e, failure: await reach(e.url) })));
  const down = problems.filter((p) => p.failure !== undefined);
  if (down.length === 0) return;
  const lines = down.map(
    (d) =>
      `Azure Storage is not reachable at ${hostPort(d.url)} (the ${d.kind} endpoint of ${setting}): ${d.failure ?? ""}.`,
  );
  if (down.every((d) => isLoopbackHost(new URL(d.url).hostname)))
    lines.push(
      `Is Azurite running? Start it with: ${azuriteCommand(app.blobService.url, app.queueService.url)}` +
        ` (or run 'referrals-export simulate', which starts it and prints the settings).`,
    );
  throw new SetupError(lines.join("\n"));
}

/** Whether an error comes from @azure/identity's credentials: no sign-in found, or one refused. */
function isAzureSignInError(error: unknown): error is Error {
  return (
    error instanceof CredentialUnavailableError ||
    error instanceof AggregateAuthenticationError ||
    error instanceof AuthenticationError
  );
}

function signInMessage(setting: string, url: string, error: unknown): string {
  const what = isAbortError(error)
    ? `no Azure sign-in within ${SIGN_IN_TIMEOUT_MS / 1000} s`
    : findCause(error, (e): e is AuthenticationError => e instanceof AuthenticationError)
      ? "Azure refused the sign-in"
      : "no Azure sign-in found";
  return (
    `Cannot use Azure Storage at ${hostPort(url)} (${setting}): ${what}. ` +
    "Sign in with `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use EXPORT_STORAGE_CONNECTION_STRING."
  );
}

/** Undefined when the endpoint answers with any HTTP response (even 400 or 403), else why not. */
async function reach(url: string): Promise<string | undefined> {
  try {
    await createDefaultHttpClient().sendRequest(
      // No credential goes with it, so plain http (Azurite) is allowed for the probe.
      createPipelineRequest({
        url,
        method: "GET",
        allowInsecureConnection: true,
        abortSignal: AbortSignal.timeout(REACH_TIMEOUT_MS),
      }),
    );
    return undefined;
  } catch (error) {
    if (isAbortError(error)) return `no answer within ${REACH_TIMEOUT_MS / 1000} s`;
    if (isRestError(error) && error.response === undefined) return describeNetworkError(error.code);
    throw error;
  }
}

const NETWORK_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "the connection was reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "the connection timed out",
};

function describeNetworkError(code: string | undefined): string {
  return (
    (code !== undefined ? NETWORK_ERRORS[code] : undefined) ?? `no connection (${code ?? "network error"})`
  );
}

/** The setting that names the storage account; shown instead of its value, which may hold a key. */
function storageSetting(settings: Settings): string {
  return settings.storage.kind === "connectionString"
    ? "EXPORT_STORAGE_CONNECTION_STRING"
    : "EXPORT_STORAGE_ACCOUNT_URL";
}

function hostPort(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;
}

/** Azurite on the ports the settings name (the table port beside them, so it cannot clash). */
function azuriteCommand(blobUrl: string, queueUrl: string): string {
  const port = (url: string): number => Number(hostPort(url).split(":").pop());
  const blob = port(blobUrl);
  const queue = port(queueUrl);
  return `npx azurite --inMemoryPersistence --skipApiVersionCheck --blobPort ${blob} --queuePort ${queue} --tablePort ${Math.max(blob, queue) + 1}`;
}
