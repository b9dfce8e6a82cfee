#!/usr/bin/env node
/**
 * `npm run dev`: a local stand-in for the Functions host. It serves the same HTTP routes with
 * the same handlers on loopback, polls the job queue like the queue trigger (dequeue count,
 * retry delay, poison queue), fires the timer on the NCRONTAB schedule, and, unless the
 * settings name them, starts Azurite and an HTTPS Partner Center simulator itself.
 */
import { randomUUID } from "node:crypto";
import { readFileSync, realpathSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import azureFunctions, { type HttpResponseInit, type InvocationContext, type Timer } from "@azure/functions";
import type { DequeuedMessageItem, QueueClient } from "@azure/storage-queue";
import { SettingsError, isSettingsError } from "../config/settings.js";
import {
  JOB_MAX_DEQUEUE_COUNT,
  JOB_MAX_POLLING_INTERVAL_MS,
  JOB_RETRY_DELAY_SECONDS,
} from "../runs/jobQueue.js";
import { appFunctions, loadAppSettings } from "../functions/app.js";
import type { Schedule } from "../functions/ncrontab.js";
import { PROBLEM_TYPES, problemResponse } from "../functions/problem.js";
import type { ApiTokenValidator } from "../functions/apiToken.js";
import type { FunctionDefinition, FunctionHost } from "../functions/runtime.js";
import { createLogger, type LogLevel, type LogSink, type Logger } from "../logging/logger.js";
import { startAzurite, type AzuriteHandle } from "../simulator/azurite.js";
import {
  LOCAL_API_CLIENT_ID,
  LOCAL_CLIENT_ID,
  LOCAL_TENANT_ID,
  LOCAL_USER,
  startLocalCloud,
  type LocalCloud,
} from "../simulator/localCloud.js";
import type { SimulatorServer } from "../simulator/server.js";
import { PARTNER_CENTER_AUDIENCE } from "../simulator/tokenRegistry.js";
import { createApp, type App, type AppOptions } from "../app/app.js";

const { HttpRequest, HttpResponse, InvocationContext: Context } = azureFunctions;

type Env = Record<string, string | undefined>;

export const DEFAULT_DEV_PORT = 7071;
/** The dev host reads at most this much of a request body; the handlers apply their own, smaller limits. */
const DEV_MAX_BODY_BYTES = 1024 * 1024;
/** How long a received job stays invisible, renewed while it runs (the host does the same). */
const MESSAGE_LEASE_SECONDS = 60;
const MESSAGE_RENEW_MS = 30_000;
const MIN_POLL_MS = 100;
/** The longest timer delay Node accepts; longer waits are re-armed. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface DevHostOptions {
  /** Settings (app settings names); defaults to process.env. */
  readonly env?: Env;
  /** Loopback port; 0 picks a free one. Default 7071, like the Functions host. */
  readonly port?: number;
  /** Start Azurite and the simulator when the settings do not name storage / a Partner Center URL. Default true. */
  readonly startDependencies?: boolean;
  /** Rows and seed of the built-in simulator's data set. */
  readonly rows?: number;
  readonly seed?: number;
  /** Where the built-in simulator keeps its local CA and certificate (default: a shared temp folder). */
  readonly tlsDir?: string;
  /** Run the nightly timer (default true) and the queue worker (default true). */
  readonly timer?: boolean;
  readonly worker?: boolean;
  /** Longest wait between polls of an empty queue (host.json maxPollingInterval). */
  readonly maxPollingIntervalMs?: number;
  /** Delay before a failed job is offered again (host.json visibilityTimeout). */
  readonly retryDelaySeconds?: number;
  readonly maxDequeueCount?: number;
  /** Storage names, lock timings, a test's credential or logger. */
  readonly appOptions?: AppOptions;
  /** Checks callers' tokens; default: the tenant's Entra ID (the simulator's, when it started one). */
  readonly apiTokens?: ApiTokenValidator;
  readonly logSink?: LogSink;
}

export interface DevHost {
  /** Origin of the HTTP routes, e.g. http://127.0.0.1:7071 (routes under /api). */
  readonly url: string;
  readonly app: App;
  /** The built-in simulator's origin, when the dev host started one. */
  readonly simulatorUrl: string | undefined;
  /** The built-in simulator's client apps that may call the API (client credentials), when it started one. */
  readonly apiCallers: LocalCloud["apiCallers"] | undefined;
  /** The file with the simulated admin caller's settings for `remote` commands, when it started the simulator. */
  readonly callerSettings: string | undefined;
  /** Stops the routes, the worker (aborting a running export) and the timer, then what it started. */
  stop(): Promise<void>;
}

/** Starts the dev host; on a bad setting it throws one SettingsError naming every bad setting. */
export async function startDevHost(options: DevHostOptions = {}): Promise<DevHost> {
  const env: Env = { ...(options.env ?? process.env) };
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    cleanups.length = 0;
  };

  try {
    let credential = options.appOptions?.partnerCenterCredential;
    let simulator: SimulatorServer | undefined;
    let apiCallers: LocalCloud["apiCallers"] | undefined;
    let callerSettings: string | undefined;
    if (options.startDependencies !== false) {
      if (!env.EXPORT_STORAGE_CONNECTION_STRING && !env.EXPORT_STORAGE_ACCOUNT_URL) {
        const azurite: AzuriteHandle = await startAzurite();
        cleanups.push(() => azurite.stop());
        env.EXPORT_STORAGE_CONNECTION_STRING = azurite.connectionString;
        env.AzureWebJobsStorage ??= azurite.connectionString;
      }
      if (!env.PARTNER_CENTER_BASE_URL) {
        const started = await startBuiltInSimulator(options.rows ?? 5_000, options.seed ?? 1, options.tlsDir);
        simulator = started.server;
        apiCallers = started.apiCallers;
        cleanups.push(() => started.server.close());
        credential ??= started.credential;
        env.PARTNER_CENTER_BASE_URL = started.server.url;
        env.LOCAL_MODE = "true";
        env.LOCAL_CA_CERT_FILE = started.caFile;
        // Callers of the API are checked against the simulated Entra ID, exactly as in Azure.
        env.AZURE_TENANT_ID ??= LOCAL_TENANT_ID;
        env.PARTNER_CENTER_AUTHORITY_HOST ??= started.server.url;
        env.API_CLIENT_ID ??= LOCAL_API_CLIENT_ID;
      }
    }

    // With the built-in simulator the dev host hands out the tokens itself; otherwise auth settings are needed.
    const { settings, schedule } = loadAppSettings(env, { requireAuth: credential === undefined });
    const sink = options.logSink ?? stdioSink;
    const logger = options.appOptions?.logger ?? createLogger(settings.logLevel, sink);
    // The built-in simulator's tokens, a test's credential, or the real delegated sign-in.
    const app = createApp(settings, {
      ...options.appOptions,
      logger,
      ...(credential ? { partnerCenterCredential: credential } : {}),
    });
    await app.ensureStorage();

    const shutdown = new AbortController();
    const host: FunctionHost = {
      settings,
      app: () => Promise.resolve(app),
      jobQueueName: app.jobQueueName,
      abortSignal: shutdown.signal,
      ...(options.apiTokens ? { apiTokens: options.apiTokens } : {}),
    };
    const definitions = appFunctions(host, schedule);

    const server = await serveHttp(definitions, options.port ?? DEFAULT_DEV_PORT, logger, sink);
    cleanups.push(() => server.close());
    if (apiCallers && simulator && env.LOCAL_CA_CERT_FILE) {
      const file = await writeCallerEnv(dirname(env.LOCAL_CA_CERT_FILE), {
        REFERRALS_EXPORT_API_URL: server.url,
        API_CLIENT_ID: env.API_CLIENT_ID ?? LOCAL_API_CLIENT_ID,
        AZURE_TENANT_ID: LOCAL_TENANT_ID,
        AZURE_AUTHORITY_HOST: simulator.url,
        AZURE_CLIENT_ID: apiCallers.admin.clientId,
        AZURE_CLIENT_SECRET: apiCallers.admin.clientSecret,
        NODE_EXTRA_CA_CERTS: env.LOCAL_CA_CERT_FILE,
      });
      cleanups.push(() => rm(file, { force: true }));
      callerSettings = file;
      logger.info("API callers sign in to the simulated Entra ID", {
        callerSettings: file,
        try: `set -a; . ${file}; set +a; npm run cli -- remote runs`,
      });
    }

    const loops: Promise<void>[] = [];
    if (options.worker !== false) {
      // Every queue-triggered function (the worker, and the poison queue's watcher) on its own queue.
      for (const definition of definitions) {
        if (definition.kind !== "storageQueue") continue;
        const queue = app.queueService.getQueueClient(definition.options.queueName);
        const poison = app.queueService.getQueueClient(`${definition.options.queueName}-poison`);
        loops.push(
          pollQueue(definition, queue, poison, shutdown.signal, logger, sink, {
            maxPollingIntervalMs: options.maxPollingIntervalMs ?? JOB_MAX_POLLING_INTERVAL_MS,
            retryDelaySeconds: options.retryDelaySeconds ?? JOB_RETRY_DELAY_SECONDS,
            maxDequeueCount: options.maxDequeueCount ?? JOB_MAX_DEQUEUE_COUNT,
          }),
        );
      }
    }
    if (options.timer !== false) {
      const timer = definitions.find((d) => d.kind === "timer");
      if (timer) loops.push(runTimer(timer, schedule, shutdown.signal, logger, sink));
    }

    logger.info("Dev host listening", {
      url: server.url,
      routes: definitions.flatMap((d) =>
        d.kind === "http" ? [`${d.options.methods.join(",")} /api/${d.options.route}`] : [],
      ),
      simulator: simulator?.url,
      storage: settings.storage.kind === "connectionString" ? "connection string" : settings.storage.blobUrl,
      exportContainer: settings.exportContainer,
      schedule: schedule.expression,
      nextScheduledRun: options.timer === false ? undefined : schedule.next(new Date()).toISOString(),
    });

    let stopped: Promise<void> | undefined;
    return {
      url: server.url,
      app,
      simulatorUrl: simulator?.url,
      apiCallers,
      callerSettings,
      stop: () =>
        (stopped ??= (async () => {
          logger.info("Dev host stopping");
          shutdown.abort(new Error("the dev host is stopping"));
          await Promise.allSettled(loops);
          await app.runs.settled(20_000);
          await cleanup();
          logger.info("Dev host stopped");
        })()),
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * Writes the simulated admin caller's settings (a client secret of this run's simulator only) to a
 * file only this user can read, for `remote` commands against the dev host; the log names the file.
 */
async function writeCallerEnv(dir: string, values: Record<string, string>): Promise<string> {
  const file = join(dir, `api-caller-${process.pid}.env`);
  const text = Object.entries(values)
    .map(([k, v]) => `${k}='${v.replace(/'/g, "'\\''")}'`)
    .join("\n");
  await writeFile(file, `${text}\n`, { mode: 0o600 });
  return file;
}

/**
 * The local cloud (Partner Center, Entra ID and Key Vault on one HTTPS server) and a credential
 * that holds delegated tokens its Entra ID issued, so no consent step is needed to start exporting.
 */
async function startBuiltInSimulator(
  rows: number,
  seed: number,
  tlsDir: string | undefined,
): Promise<{
  server: SimulatorServer;
  credential: TokenCredential;
  caFile: string;
  apiCallers: LocalCloud["apiCallers"];
}> {
  const cloud = await startLocalCloud({ rows, seed, ...(tlsDir !== undefined ? { tlsDir } : {}) });
  let current: AccessToken | undefined;
  const credential: TokenCredential = {
    getToken: () => {
      if (!current || current.expiresOnTimestamp - Date.now() < 5 * 60_000) {
        const issued = cloud.registry.issueAccessToken({
          audience: PARTNER_CENTER_AUDIENCE,
          scopes: ["user_impersonation"],
          delegated: true,
          clientId: LOCAL_CLIENT_ID,
          tenantId: LOCAL_TENANT_ID,
          userOid: LOCAL_USER.oid,
        });
        current = { token: issued.token, expiresOnTimestamp: Date.now() + issued.expiresInSeconds * 1000 };
      }
      return Promise.resolve(current);
    },
  };
  return { server: cloud.server, credential, caFile: cloud.tls.caFile, apiCallers: cloud.apiCallers };
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface HttpServerHandle {
  readonly url: string;
  close(): Promise<void>;
}

type HttpDefinition = Extract<FunctionDefinition, { kind: "http" }>;

async function serveHttp(
  definitions: readonly FunctionDefinition[],
  port: number,
  logger: Logger,
  sink: LogSink,
): Promise<HttpServerHandle> {
  const routes = definitions.filter((d): d is HttpDefinition => d.kind === "http");
  const sockets = new Set<Socket>();
  // Node would answer a request without Host with a bare 400 of its own; the checks below answer
  // it with a problem body that says what to send instead.
  const server: Server = createServer({ requireHostHeader: false }, (req, res) => {
    const { port: bound } = server.address() as AddressInfo;
    void handleHttp(routes, req, res, bound, logger, sink);
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
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** Matches `/api/{route}` against a Functions route template such as `exports/{runId}`. */
function matchRoute(template: string, path: string): Record<string, string> | undefined {
  const want = template.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? "";
    const g = got[i] ?? "";
    const name = /^\{(\w+)\}$/.exec(w)?.[1];
    if (name) {
      if (g === "") return undefined;
      try {
        params[name] = decodeURIComponent(g);
      } catch {
        return undefined;
      }
    } else if (w.toLowerCase() !== g.toLowerCase()) return undefined;
  }
  return params;
}

/** The names a client on this machine reaches the dev host by; Host and Origin must use one of them. */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);
/** Methods whose body a handler reads; a non-empty one must be JSON. */
const BODY_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH"]);
const JSON_MEDIA_TYPE = "application/json";

/** A refusal made before any handler runs: an RFC 9457 problem with the status's own title. */
interface Refusal {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly headers?: Record<string, string>;
}

/** `host[:port]` (case-insensitive) naming a loopback address and `port`; no port only means 80. */
function isLoopbackAuthority(authority: string, port: number): boolean {
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(authority.toLowerCase());
  if (!match?.[1] || !LOOPBACK_HOSTS.has(match[1])) return false;
  return match[2] === undefined ? port === 80 : match[2] === String(port);
}

/**
 * Any loopback name with this port is the dev host's own origin; `null` (sandboxed pages, local
 * files, redirects) and every other origin are someone else's page.
 */
function isOwnOrigin(origin: string, port: number): boolean {
  const match = /^http:\/\/([^/]+)$/i.exec(origin);
  return match?.[1] !== undefined && isLoopbackAuthority(match[1], port);
}

/** What a client should send, for the refusals' `detail`. */
const loopbackNames = (port: number): string => `127.0.0.1:${port}, localhost:${port} or [::1]:${port}`;

/** A caller's value quoted in a `detail`, cut short so a long header cannot bloat the answer. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}

/**
 * Refuses what a web page could make a developer's browser send here. DNS rebinding reaches
 * loopback under a foreign name, so only Host values naming loopback and this port are served;
 * a page of another origin gives itself away by Origin or Sec-Fetch-Site. Clients that are no
 * browser (curl, the CLI) send neither and pass.
 */
function refuseForeign(req: IncomingMessage, port: number): Refusal | undefined {
  const hosts = req.headersDistinct.host ?? [];
  // RFC 9112 §3.2 asks for 400 when Host is missing or repeated: the request itself is malformed.
  if (hosts.length !== 1)
    return {
      status: 400,
      title: "Bad Request",
      detail: `The request must carry exactly one Host header naming this dev host: ${loopbackNames(port)}`,
    };
  const host = hosts[0] ?? "";
  // A well-formed Host naming another server gets 421 (RFC 9110 §15.5.20): this server does not
  // answer for that authority, which is what a rebound name (evil.example -> 127.0.0.1) is.
  const misdirected = (named: string): Refusal => ({
    status: 421,
    title: "Misdirected Request",
    detail: `This dev host answers only requests addressed to loopback on port ${port} (${loopbackNames(port)}); ${named} names another server`,
  });
  if (!isLoopbackAuthority(host, port)) return misdirected(`Host ${quoted(host)}`);
  const target = req.url ?? "";
  if (!target.startsWith("/")) {
    // Absolute form (what a client sends to a proxy): its authority is held to the same rule.
    let absolute: URL | undefined;
    try {
      absolute = new URL(target);
    } catch {
      absolute = undefined;
    }
    if (absolute?.protocol !== "http:")
      return {
        status: 400,
        title: "Bad Request",
        detail: `The request target ${quoted(target)} is not a path; send a path such as /api/exports`,
      };
    if (!isLoopbackAuthority(absolute.host, port)) return misdirected(`the request target ${quoted(target)}`);
  }

  const ownOrigin = `http://127.0.0.1:${port}`;
  const origins = req.headersDistinct.origin;
  if (origins !== undefined && !(origins.length === 1 && isOwnOrigin(origins[0] ?? "", port)))
    return {
      status: 403,
      title: "Forbidden",
      detail: `Requests from web pages of another origin are refused (Origin ${quoted(origins.join(", "))}); this dev host accepts requests without an Origin header (curl, the CLI) or from its own origin, ${ownOrigin}`,
    };
  // Browsers send Sec-Fetch-Site even where they leave Origin out (a navigation, an image). Only
  // same-origin requests and ones the user started (`none`) come from the dev host's own use;
  // `same-site` here means another port of a loopback name, i.e. another local web app.
  const site = req.headersDistinct["sec-fetch-site"]
    ?.map((v) => v.trim().toLowerCase())
    .find((v) => v === "cross-site" || v === "same-site");
  if (site !== undefined)
    return {
      status: 403,
      title: "Forbidden",
      detail: `Requests a browser marks Sec-Fetch-Site: ${site} are refused; this dev host accepts requests from its own origin (${ownOrigin}) or sent directly (curl, the CLI)`,
    };
  return undefined;
}

/** A body of JSON (`application/json`, parameters such as charset allowed), or a 415 saying so. */
function refuseBodyType(req: IncomingMessage, method: string, body: Buffer): Refusal | undefined {
  if (!BODY_METHODS.has(method) || body.length === 0) return undefined;
  const types = req.headersDistinct["content-type"] ?? [];
  const essence = types.length === 1 ? types[0]?.split(";", 1)[0]?.trim().toLowerCase() : undefined;
  if (essence === JSON_MEDIA_TYPE) return undefined;
  const sent = types.length === 0 ? "no Content-Type" : `Content-Type ${quoted(types.join(", "))}`;
  return {
    status: 415,
    title: "Unsupported Media Type",
    detail: `A ${method} body must be JSON, sent with Content-Type: ${JSON_MEDIA_TYPE} (a charset parameter may follow); this one came with ${sent}. A POST without a body needs no Content-Type`,
    headers: { accept: JSON_MEDIA_TYPE },
  };
}

/**
 * Every request header as the client sent it, repeated ones joined the way HTTP joins them
 * (`; ` for Cookie), so a handler sees what it would see behind the Functions host.
 */
function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct))
    if (values !== undefined) headers[name] = values.join(name === "cookie" ? "; " : ", ");
  return headers;
}

/**
 * The path and query of a request target, read against a fixed origin so that a target such as
 * `//other/x` stays a path; anything that is not a path reads as `/`.
 */
function pathUrl(target: string): URL {
  try {
    if (target.startsWith("/")) return new URL(`http://127.0.0.1${target}`);
  } catch {
    // not a path a URL can hold
  }
  return new URL("http://127.0.0.1/");
}

async function handleHttp(
  routes: readonly HttpDefinition[],
  req: IncomingMessage,
  res: ServerResponse,
  port: number,
  logger: Logger,
  sink: LogSink,
): Promise<void> {
  const started = Date.now();
  const method = (req.method ?? "GET").toUpperCase();
  let url = pathUrl(req.url ?? "/");
  let status = 500;
  const refuse = async (refusal: Refusal, warn = true): Promise<void> => {
    status = refusal.status;
    if (warn)
      logger.warn("Dev host refused a request", {
        method,
        path: url.pathname,
        status,
        detail: refusal.detail,
      });
    await writeResponse(
      res,
      problemResponse(
        { type: "about:blank", title: refusal.title, status: refusal.status, detail: refusal.detail },
        refusal.headers,
      ),
    );
  };
  try {
    const foreign = refuseForeign(req, port);
    if (foreign) {
      await refuse(foreign);
      return;
    }
    // Checked above: one loopback Host, and a target that is a path or an absolute loopback URL.
    const host = req.headers.host ?? `127.0.0.1:${port}`;
    const target = req.url ?? "/";
    if (!target.startsWith("/")) {
      const absolute = new URL(target);
      url = pathUrl(`${absolute.pathname}${absolute.search}`);
    }

    const path = url.pathname.startsWith("/api/") ? url.pathname.slice(5).replace(/\/+$/, "") : undefined;
    let matched: { route: HttpDefinition; params: Record<string, string> } | undefined;
    const allowed = new Set<string>();
    for (const route of path === undefined ? [] : routes) {
      const params = matchRoute(route.options.route, path ?? "");
      if (!params) continue;
      if (route.options.methods.includes(method as (typeof route.options.methods)[number])) {
        matched = { route, params };
        break;
      }
      for (const m of route.options.methods) allowed.add(m);
    }
    if (!matched) {
      // OPTIONS is a method like any other here: no CORS preflight is ever answered.
      const allow = [...allowed].join(", ");
      await refuse(
        allowed.size > 0
          ? {
              status: 405,
              title: "Method Not Allowed",
              detail: `${method} is not allowed on ${url.pathname}; it accepts ${allow}`,
              headers: { allow },
            }
          : { status: 404, title: "Not Found", detail: `No route for ${url.pathname}` },
        false,
      );
      return;
    }
    const body = await readBody(req, DEV_MAX_BODY_BYTES);
    if (body === undefined) {
      status = 413;
      await writeResponse(
        res,
        problemResponse({
          type: PROBLEM_TYPES.bodyTooLarge,
          title: "The request body is too large",
          status,
          detail: `The body may be at most ${DEV_MAX_BODY_BYTES} bytes`,
        }),
      );
      req.resume();
      return;
    }
    const wrongType = refuseBodyType(req, method, body);
    if (wrongType) {
      await refuse(wrongType);
      return;
    }
    const request = new HttpRequest({
      method,
      url: `http://${host}${url.pathname}${url.search}`,
      headers: requestHeaders(req),
      query: Object.fromEntries(url.searchParams.entries()),
      params: matched.params,
      ...(body.length > 0 ? { body: { bytes: new Uint8Array(body) } } : {}),
    });
    const context = invocationContext(matched.route.name, logger, sink);
    const result = (await matched.route.options.handler(request, context)) as
      HttpResponseInit | InstanceType<typeof HttpResponse> | undefined;
    const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? { status: 204 });
    status = response.status;
    res.writeHead(status, Object.fromEntries(response.headers.entries()));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    logger.error("Dev host request failed", { error });
    if (!res.headersSent)
      await writeResponse(
        res,
        problemResponse({
          type: PROBLEM_TYPES.internal,
          title: "Internal error",
          status: 500,
          detail: "see the dev host log",
        }),
      );
    else res.destroy();
  } finally {
    logger.info("HTTP request", { method, path: url.pathname, status, ms: Date.now() - started });
  }
}

async function writeResponse(res: ServerResponse, init: HttpResponseInit): Promise<void> {
  const response = new HttpResponse(init);
  res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
  res.end(Buffer.from(await response.arrayBuffer()));
}

/** The body, or undefined when it is larger than `limit` (reading stops there). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const LEVELS: Record<string, LogLevel> = {
  trace: "debug",
  debug: "debug",
  information: "info",
  warning: "warn",
  error: "error",
  critical: "error",
};

const stdioSink: LogSink = (line, level) => {
  if (level === "error" || level === "warn") process.stderr.write(`${line}\n`);
  else process.stdout.write(`${line}\n`);
};

function invocationContext(
  functionName: string,
  logger: Logger,
  sink: LogSink,
  triggerMetadata?: Record<string, unknown>,
): InvocationContext {
  const invocationId = randomUUID();
  const log = logger.child({ invocationId, function: functionName });
  return new Context({
    invocationId,
    functionName,
    ...(triggerMetadata ? { triggerMetadata } : {}),
    logHandler: (level, ...args) => {
      const lvl = LEVELS[level] ?? "info";
      const text = args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ");
      // The handlers log finished JSON lines through the context; pass those through unchanged.
      if (text.startsWith("{")) {
        sink(text, lvl);
      } else {
        log[lvl](text);
      }
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Queue worker

interface PollOptions {
  readonly maxPollingIntervalMs: number;
  readonly retryDelaySeconds: number;
  readonly maxDequeueCount: number;
}

/** Read through a call: an abort can happen during any await, which narrowing does not see. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Polls the job queue one message at a time (host.json batchSize 1) until the dev host stops. */
async function pollQueue(
  definition: FunctionDefinition,
  queue: QueueClient,
  poison: QueueClient,
  signal: AbortSignal,
  logger: Logger,
  sink: LogSink,
  options: PollOptions,
): Promise<void> {
  if (definition.kind !== "storageQueue") return;
  const log = logger.child({ function: definition.name, queue: queue.name });
  let idle = MIN_POLL_MS;
  while (!signal.aborted) {
    let item: DequeuedMessageItem | undefined;
    try {
      const received = await queue.receiveMessages({
        numberOfMessages: 1,
        visibilityTimeout: MESSAGE_LEASE_SECONDS,
      });
      item = received.receivedMessageItems[0];
    } catch (error) {
      if (isAborted(signal)) break;
      log.warn("Could not poll the job queue", { error });
      await sleep(options.maxPollingIntervalMs, signal);
      continue;
    }
    if (!item) {
      // Back off like the host: doubling up to maxPollingInterval while the queue is empty.
      await sleep(idle, signal);
      idle = Math.min(idle * 2, options.maxPollingIntervalMs);
      continue;
    }
    idle = MIN_POLL_MS;
    await processMessage(definition, item, queue, poison, log, sink, options).catch((error: unknown) => {
      log.error("Queue message handling failed", { error, messageId: item.messageId });
    });
  }
}

async function processMessage(
  definition: Extract<FunctionDefinition, { kind: "storageQueue" }>,
  item: DequeuedMessageItem,
  queue: QueueClient,
  poison: QueueClient,
  log: Logger,
  sink: LogSink,
  options: PollOptions,
): Promise<void> {
  let popReceipt = item.popReceipt;
  const toPoison = async (): Promise<void> => {
    // The poison queue's own poison queue is made only if a message ever needs it.
    await poison.createIfNotExists();
    await poison.sendMessage(item.messageText);
    await queue.deleteMessage(item.messageId, popReceipt);
    log.error("Job moved to the poison queue", {
      messageId: item.messageId,
      dequeueCount: item.dequeueCount,
    });
  };
  if (item.dequeueCount > options.maxDequeueCount) {
    await toPoison();
    return;
  }
  // The trigger hands the function the decoded message: an object for JSON, else the text.
  const text = Buffer.from(item.messageText, "base64").toString("utf8");
  let entry: unknown = text;
  try {
    entry = JSON.parse(text) as unknown;
  } catch {
    // not JSON: the text itself
  }
  const context = invocationContext(definition.name, log, sink, {
    id: item.messageId,
    dequeueCount: item.dequeueCount,
    insertionTime: item.insertedOn.toISOString(),
    expirationTime: item.expiresOn.toISOString(),
    nextVisibleTime: item.nextVisibleOn.toISOString(),
    popReceipt: item.popReceipt,
  });

  let renewal: Promise<void> = Promise.resolve();
  const keepInvisible = setInterval(() => {
    renewal = renewal.then(async () => {
      try {
        const updated = await queue.updateMessage(
          item.messageId,
          popReceipt,
          undefined,
          MESSAGE_LEASE_SECONDS,
        );
        if (updated.popReceipt) popReceipt = updated.popReceipt;
      } catch (error) {
        log.warn("Could not extend the job's invisibility", { error });
      }
    });
  }, MESSAGE_RENEW_MS);
  let failure: unknown;
  try {
    await definition.options.handler(entry, context);
  } catch (error) {
    failure = error ?? new Error("the worker failed");
  } finally {
    clearInterval(keepInvisible);
    await renewal;
  }
  if (failure === undefined) {
    await queue.deleteMessage(item.messageId, popReceipt);
    return;
  }
  log.warn("Worker failed", { error: failure, dequeueCount: item.dequeueCount });
  if (item.dequeueCount >= options.maxDequeueCount) await toPoison();
  else await queue.updateMessage(item.messageId, popReceipt, undefined, options.retryDelaySeconds);
}

// ---------------------------------------------------------------------------------------------
// Timer

async function runTimer(
  definition: FunctionDefinition,
  schedule: Schedule,
  signal: AbortSignal,
  logger: Logger,
  sink: LogSink,
): Promise<void> {
  if (definition.kind !== "timer") return;
  let last: Date | undefined;
  while (!signal.aborted) {
    const next = schedule.next(new Date());
    // Long waits are re-armed in steps; each step ends early when the dev host stops.
    while (!isAborted(signal) && Date.now() < next.getTime())
      await sleep(Math.min(next.getTime() - Date.now(), MAX_TIMEOUT_MS), signal);
    if (isAborted(signal)) break;
    const timer: Timer = {
      isPastDue: false,
      schedule: { adjustForDST: false },
      scheduleStatus: {
        last: (last ?? next).toISOString(),
        next: schedule.next(next).toISOString(),
        lastUpdated: new Date().toISOString(),
      },
    };
    last = next;
    try {
      await definition.options.handler(timer, invocationContext(definition.name, logger, sink));
    } catch (error) {
      logger.error("Timer function failed", { error, function: definition.name });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Command line

export const DEV_HELP = `Usage: npm run dev -- [--port P] [--rows N] [--seed S] [--settings FILE] [--no-timer]

Serves POST/GET /api/exports and GET /api/exports/{runId} on http://127.0.0.1:P (default ${DEFAULT_DEV_PORT}),
runs the queue worker and the nightly timer. Settings come from the environment (and FILE, a
local.settings.json, for names the environment does not set). Without EXPORT_STORAGE_* it starts
Azurite; without PARTNER_CENTER_BASE_URL it starts an HTTPS Partner Center simulator with N rows.
It answers only requests addressed to 127.0.0.1:P, localhost:P or [::1]:P that no other web
origin sent, and request bodies must be JSON (Content-Type: application/json).`;

/** Values of a local.settings.json, for settings the environment does not set. */
function readLocalSettings(file: string): Env {
  const parsed = JSON.parse(readFileSync(file, "utf8")) as { Values?: Record<string, unknown> };
  const values: Env = {};
  for (const [k, v] of Object.entries(parsed.Values ?? {})) if (typeof v === "string") values[k] = v;
  return values;
}

async function main(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        port: { type: "string" },
        rows: { type: "string" },
        seed: { type: "string" },
        settings: { type: "string" },
        "no-timer": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`dev: ${error instanceof Error ? error.message : String(error)}\n${DEV_HELP}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${DEV_HELP}\n`);
    return 0;
  }
  const whole = (name: string, text: string | undefined, max: number): number | undefined => {
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || Number(text) > max)
      throw new SettingsError([`--${name} must be a whole number up to ${max}`]);
    return Number(text);
  };
  const env: Env = { ...(values.settings ? readLocalSettings(values.settings) : {}), ...process.env };
  let host: DevHost;
  const requestedPort = values.port ?? String(DEFAULT_DEV_PORT);
  try {
    const port = whole("port", values.port, 65_535);
    const rows = whole("rows", values.rows, 10_000_000);
    const seed = whole("seed", values.seed, 2 ** 31);
    host = await startDevHost({
      env,
      ...(port !== undefined ? { port } : {}),
      ...(rows !== undefined ? { rows } : {}),
      ...(seed !== undefined ? { seed } : {}),
      timer: !values["no-timer"],
    });
  } catch (error) {
    if (isSettingsError(error)) {
      process.stderr.write(`dev: ${error.message}\n`);
      return 2;
    }
    if (isAddressInUse(error)) {
      process.stderr.write(
        `dev: port ${requestedPort} on 127.0.0.1 is in use (another dev host or Functions host?); choose another with --port, e.g. npm run dev -- --port 7072 (0 picks a free one)\n`,
      );
      return 2;
    }
    throw error;
  }
  process.stdout.write(devHostBanner(host, env.API_CLIENT_ID));
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await host.stop();
  return 0;
}

/**
 * What `npm run dev` prints once it listens: commands that work as printed. Every call needs a
 * token, so with the built-in simulator they sign in as its admin caller (the file the dev host
 * wrote, whose secret is never printed); otherwise with Azure CLI for the API's scope.
 */
export function devHostBanner(
  host: Pick<DevHost, "url" | "callerSettings">,
  apiClientId: string | undefined,
): string {
  const lines = [``, `referrals-export dev host: ${host.url}/api/exports`];
  if (host.callerSettings !== undefined) {
    lines.push(
      `  callers sign in to the simulated Entra ID; in another shell:`,
      `    set -a; . ${host.callerSettings}; set +a`,
      `    npm run cli -- remote export --wait          # an ad-hoc export of every referral`,
      `    npm run cli -- remote runs`,
    );
  } else {
    lines.push(
      `  try (signed in with az login, holding an app role of the API):`,
      `    TOKEN=$(az account get-access-token --scope "api://${apiClientId ?? "<API_CLIENT_ID>"}/.default" --query accessToken -o tsv)`,
      `    curl -i -X POST ${host.url}/api/exports -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{}'`,
    );
  }
  return `${lines.join("\n")}\n\n`;
}

/** The listen error of a port another process holds (Node's errno code, not the message). */
function isAddressInUse(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === "EADDRINUSE";
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(
        `dev: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
