import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { CryptoProvider, type AuthenticationResult, type DeviceCodeRequest } from "@azure/msal-node";
import { accountOf } from "./cachePlugin.js";
import { toAuthError } from "./classify.js";
import { runOperation, type OperationContext } from "./context.js";
import type { ClientType } from "./credential.js";
import { AuthError } from "./errors.js";
import { TokenCacheStore } from "./keyVaultStore.js";
import { TokenCacheLock } from "./lock.js";
import { createConfidentialApp, createPublicApp, createRuntime, type AuthRuntime } from "./msalApps.js";
import { PARTNER_CENTER_SCOPE, TOKEN_CACHE_LOCK_BLOB, type AuthOptions } from "./options.js";

/**
 * `app-auth-code`: a browser sign-in started by the app's own API and redeemed by the app's
 * confidential client, so only the app's credential can redeem the stored refresh token.
 */
export type ConsentFlow = "device-code" | "auth-code" | "app-auth-code";

export interface ConsentOutcome {
  readonly username: string;
  readonly tenantId: string;
  readonly consentFlow: ConsentFlow;
  readonly clientType: ClientType;
  readonly secretVersion?: string;
}

export interface DeviceCodeConsentOptions {
  /** Receives MSAL's instruction (verification URL and user code). */
  readonly onPrompt: (message: string) => void;
  /** Stop polling after this long. Default 900 s (the device code's own lifetime). */
  readonly timeoutSeconds?: number;
}

export interface AuthCodeConsentOptions {
  /** Loopback port for the redirect `http://localhost:PORT`; 0 or absent picks a free one. */
  readonly port?: number;
  /** Try to open the system browser on the sign-in URL. */
  readonly openBrowser?: boolean;
  /** Receives the sign-in URL to open. */
  readonly onUrl: (url: string) => void;
  readonly onInfo?: (line: string) => void;
  /** Give up waiting for the redirect after this long. Default 300 s. */
  readonly timeoutSeconds?: number;
}

/**
 * Device code consent: a public client flow (the app registration needs "Allow public client flows").
 * Refresh tokens from it must later be redeemed without client credentials, so the stored cache is
 * tagged `clientType=public`. The new cache replaces the stored one (one account only).
 */
export async function consentWithDeviceCode(
  options: AuthOptions,
  flow: DeviceCodeConsentOptions,
): Promise<ConsentOutcome> {
  const runtime = createRuntime(options);
  const timeoutSeconds = flow.timeoutSeconds ?? 900;
  return consentOperation(runtime, timeoutSeconds, async (context) => {
    const app = createPublicApp(runtime);
    const request: DeviceCodeRequest = {
      scopes: [PARTNER_CENTER_SCOPE],
      deviceCodeCallback: (response) => {
        flow.onPrompt(response.message);
      },
      timeout: timeoutSeconds,
    };
    const cancel = (): void => {
      request.cancel = true;
    };
    context.signal.addEventListener("abort", cancel, { once: true });
    let result: AuthenticationResult | null;
    try {
      result = await app.acquireTokenByDeviceCode(request);
    } finally {
      context.signal.removeEventListener("abort", cancel);
    }
    return store(runtime, context, app.getTokenCache().serialize(), result, "device-code", "public");
  });
}

/**
 * Authorization code + PKCE consent on a loopback redirect (`http://localhost:PORT`). With a client
 * secret or certificate the code is redeemed by the confidential client (redirect registered on the
 * "Web" platform); with a managed identity that is not reachable here (an admin's workstation), by a
 * public client (redirect on "Mobile and desktop applications", public client flows allowed).
 */
export async function consentWithAuthCode(
  options: AuthOptions,
  flow: AuthCodeConsentOptions,
): Promise<ConsentOutcome> {
  const runtime = createRuntime(options);
  const timeoutSeconds = flow.timeoutSeconds ?? 300;
  return consentOperation(runtime, timeoutSeconds, async (context) => {
    const clientType = authCodeClientType(options);
    if (clientType === "public" && options.credential.kind === "managed-identity") {
      flow.onInfo?.(
        "No managed identity is reachable here; completing the sign-in as a public client (PKCE, no client secret).",
      );
    }
    const app =
      clientType === "confidential" ? await createConfidentialApp(runtime) : createPublicApp(runtime);
    const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
    const state = randomUUID();
    const listener = await startRedirectListener(flow.port ?? 0);
    try {
      const redirectUri = `http://localhost:${listener.port}`;
      const url = await app.getAuthCodeUrl({
        scopes: [PARTNER_CENTER_SCOPE],
        redirectUri,
        codeChallenge: challenge,
        codeChallengeMethod: "S256",
        state,
        prompt: "select_account",
      });
      flow.onUrl(url);
      if (flow.openBrowser === true) openBrowser(url);
      const reply = await listener.next(
        AbortSignal.any([context.signal, AbortSignal.timeout(timeoutSeconds * 1000)]),
      );
      if (reply.state !== state)
        throw new AuthError(
          "sign_in",
          "The sign-in reply did not match this request (state mismatch); start again",
        );
      if (reply.error !== undefined) {
        throw new AuthError(
          "sign_in",
          `Sign-in did not complete: ${reply.error}${reply.errorDescription ? ` (${reply.errorDescription.split(/\r?\n/)[0] ?? ""})` : ""}`,
        );
      }
      const result = await app.acquireTokenByCode({
        code: reply.code ?? "",
        redirectUri,
        scopes: [PARTNER_CENTER_SCOPE],
        codeVerifier: verifier,
      });
      return await store(runtime, context, app.getTokenCache().serialize(), result, "auth-code", clientType);
    } finally {
      await listener.close();
    }
  });
}

/** Which client redeems an authorization code with these options. */
export function authCodeClientType(options: AuthOptions): ClientType {
  const credential = options.credential;
  if (credential.kind !== "managed-identity") return "confidential";
  const managedIdentityHere =
    credential.assertionCredential !== undefined ||
    process.env.IDENTITY_ENDPOINT !== undefined ||
    process.env.MSI_ENDPOINT !== undefined;
  return managedIdentityHere ? "confidential" : "public";
}

export async function consentOperation(
  runtime: AuthRuntime,
  timeoutSeconds: number,
  fn: (context: OperationContext) => Promise<ConsentOutcome>,
): Promise<ConsentOutcome> {
  try {
    // The interaction itself plus time to take the lock and store the cache.
    return await runOperation(
      timeoutSeconds * 1000 + runtime.timeoutMs,
      [runtime.options.abortSignal],
      async (context) => {
        context.tokenRequestsAllowed = true;
        return fn(context);
      },
    );
  } catch (error) {
    throw toAuthError(error, runtime.options.clientId, runtime.authority);
  }
}

/** Writes the new cache to Key Vault under the token-cache lock, replacing whatever was stored. */
export async function store(
  runtime: AuthRuntime,
  context: OperationContext,
  serialized: string,
  result: AuthenticationResult | null,
  consentFlow: ConsentFlow,
  clientType: ClientType,
): Promise<ConsentOutcome> {
  const username = result?.account?.username ?? accountOf(serialized);
  if (!result || username === undefined)
    throw new AuthError("sign_in", "Sign-in finished without an account; nothing was stored");
  const options = runtime.options;
  const tokenStore = new TokenCacheStore(runtime.secretClient, options.tokenCacheSecretName);
  const lock = new TokenCacheLock(
    options.lock,
    TOKEN_CACHE_LOCK_BLOB,
    options.leaseSeconds ?? 30,
    runtime.logger,
  );
  const secretVersion = await lock.run(context, () =>
    tokenStore.write(serialized, {
      account: username,
      updatedAt: new Date().toISOString(),
      consentFlow,
      clientType,
      tenantId: result.tenantId || options.tenantId,
    }),
  );
  return {
    username,
    tenantId: result.tenantId || options.tenantId,
    consentFlow,
    clientType,
    ...(secretVersion === undefined ? {} : { secretVersion }),
  };
}

interface RedirectReply {
  readonly code?: string;
  readonly state?: string;
  readonly error?: string;
  readonly errorDescription?: string;
}

interface RedirectListener {
  readonly port: number;
  next(signal: AbortSignal): Promise<RedirectReply>;
  close(): Promise<void>;
}

/** A one-shot HTTP listener on loopback for the authorization code redirect. */
async function startRedirectListener(port: number): Promise<RedirectListener> {
  const sockets = new Set<Socket>();
  let deliver: ((reply: RedirectReply) => void) | undefined;
  const replies: RedirectReply[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const params = url.searchParams;
    if (req.method !== "GET" || url.pathname !== "/" || (!params.has("code") && !params.has("error"))) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("Not found");
      return;
    }
    const reply: RedirectReply = {
      ...optional("code", params.get("code")),
      ...optional("state", params.get("state")),
      ...optional("error", params.get("error")),
      ...optional("errorDescription", params.get("error_description")),
    };
    const ok = reply.error === undefined;
    const body = `<!doctype html><meta charset="utf-8"><title>referrals-export</title><p>${
      ok
        ? "Sign-in complete. You can close this window and return to the terminal."
        : "Sign-in did not complete. See the terminal for details."
    }</p>`;
    res.writeHead(ok ? 200 : 400, {
      "content-type": "text/html; charset=utf-8",
      "content-length": Buffer.byteLength(body),
      connection: "close",
    });
    res.end(body);
    if (deliver) deliver(reply);
    else replies.push(reply);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    port: actual,
    next: (signal) =>
      new Promise<RedirectReply>((resolve, reject) => {
        const queued = replies.shift();
        if (queued) {
          resolve(queued);
          return;
        }
        const onAbort = (): void => {
          deliver = undefined;
          reject(
            new AuthError(
              "sign_in",
              "Timed out waiting for the browser to come back with the sign-in result",
            ),
          );
        };
        if (signal.aborted) {
          onAbort();
          return;
        }
        signal.addEventListener("abort", onAbort, { once: true });
        deliver = (reply) => {
          signal.removeEventListener("abort", onAbort);
          deliver = undefined;
          resolve(reply);
        };
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** Best effort: the URL is printed anyway. */
export function openBrowser(url: string): void {
  const [command, args] =
    process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
        ? ["rundll32", ["url.dll,FileProtocolHandler", url]]
        : ["xdg-open", [url]];
  try {
    const child = spawn(command, args, { stdio: "ignore", detached: true });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    // No browser here; the user opens the printed URL.
  }
}

function optional<K extends string>(key: K, value: string | null): Partial<Record<K, string>> {
  return value === null ? {} : ({ [key]: value } as Partial<Record<K, string>>);
}
