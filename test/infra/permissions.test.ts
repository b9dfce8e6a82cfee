/**
 * The permission model, tested. Each actor's code paths run end to end against Azurite and the
 * simulator's Key Vault through recording proxies (test/support/recordingProxy.ts); every request
 * becomes a Storage or Key Vault operation, each operation the Azure RBAC permissions it needs
 * (test/infra/dataActions.json, from Microsoft's "permissions for calling data operations" tables),
 * and the compiled template (evaluated by test/support/armTemplate.ts) must grant the actor a
 * built-in role (test/infra/roleDefinitions.json) holding them at a scope that contains the
 * resource the operation targets. A role assignment removed from infra/, or a new call no role
 * covers, fails here naming the actor, the operation and the resource.
 */
import { generate } from "selfsigned";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import azureFunctions, { type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, lazyApp } from "../../src/app/app.js";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { loadSettings, type Settings } from "../../src/config/settings.js";
import { appFunctions } from "../../src/functions/app.js";
import { parseSchedule } from "../../src/functions/ncrontab.js";
import type { FunctionDefinition, FunctionHost } from "../../src/functions/runtime.js";
import { createLogger } from "../../src/logging/logger.js";
import { createReadLinkSigner } from "../../src/runs/readLinks.js";
import {
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  startAzurite,
  type AzuriteHandle,
} from "../../src/simulator/azurite.js";
import { LOCAL_CLIENT_ID, startLocalCloud, type LocalCloud } from "../../src/simulator/localCloud.js";
import {
  type ArmTemplate,
  type Deployment,
  type Value,
  Runtime,
  USER_ID,
  deployTemplate,
  loadCompiledTemplate,
  props,
  str,
} from "../support/armTemplate.js";
import { startRecordingProxy, type ProxiedRequest, type RecordingProxy } from "../support/recordingProxy.js";
import roleData from "./roleDefinitions.json" with { type: "json" };
import actionData from "./dataActions.json" with { type: "json" };
import { authHeaders, testApiTokens } from "../support/apiTokens.js";

/** A caller with every role: these tests are about what the API does once a caller is let in. */
const AUTH = await authHeaders();

const { HttpRequest, InvocationContext: Context } = azureFunctions;

// ---------------------------------------------------------------------------------------------
// Operations: what a recorded request is, and what it needs
// ---------------------------------------------------------------------------------------------

type Service = "blob" | "queue" | "vault" | "monitor";

/** What an operation acts on, named as in the template: the account/vault, a container, queue or secret. */
type Target =
  | { readonly kind: "account" }
  | { readonly kind: "container"; readonly name: string }
  | { readonly kind: "queue"; readonly name: string }
  | { readonly kind: "vault" }
  | { readonly kind: "secret"; readonly name: string }
  | { readonly kind: "component"; readonly name: string };

interface Operation {
  /** Who performed it. */
  readonly actor: string;
  /** The operation's name in Microsoft's permission tables, e.g. "Lease Blob". */
  readonly operation: string;
  readonly target: Target;
  /** How it was seen: the request line, or the platform fact it stands for. */
  readonly evidence: string;
}

interface OperationSpec {
  readonly service: Service;
  /** Any one of these sets of permissions suffices; every permission of the set is needed. */
  readonly anyOf: readonly (readonly string[])[];
  readonly source: string;
}

const OPERATIONS = actionData.operations as Record<string, OperationSpec>;

/** Names the storage operation of a request to Azurite, per the REST API's method, path and query. */
function storageOperation(
  service: "blob" | "queue",
  r: ProxiedRequest,
): { operation: string; target: Target } {
  const [account = "", first, ...rest] = r.path.replace(/^\/+/, "").split("/");
  if (account !== AZURITE_ACCOUNT) throw new Error(`unexpected storage path ${r.path}`);
  const q = r.query;
  const m = r.method;
  if (!r.authenticated) return { operation: "Anonymous request", target: { kind: "account" } };
  if (first === undefined || first === "") {
    if (service === "blob" && q.restype === "service" && q.comp === "userdelegationkey")
      return { operation: "Get User Delegation Key", target: { kind: "account" } };
    if (service === "blob" && q.comp === "list")
      return { operation: "List Containers", target: { kind: "account" } };
    if (service === "queue" && q.comp === "list")
      return { operation: "List Queues", target: { kind: "account" } };
    if (q.restype === "account" && q.comp === "properties")
      return { operation: "Get Account Information", target: { kind: "account" } };
    throw new Error(
      `unclassified ${service} service request ${m} ${r.path}?${new URLSearchParams(q).toString()}`,
    );
  }
  if (service === "queue") {
    const target: Target = { kind: "queue", name: first };
    const [messages, messageId] = rest;
    if (messages === undefined) {
      if (m === "PUT" && q.comp === "metadata") return { operation: "Set Queue Metadata", target };
      if (m === "PUT") return { operation: "Create Queue", target };
      if (m === "DELETE") return { operation: "Delete Queue", target };
      if ((m === "GET" || m === "HEAD") && q.comp === "metadata")
        return { operation: "Get Queue Metadata", target };
    } else if (messages === "messages") {
      if (messageId === undefined) {
        if (m === "POST") return { operation: "Put Message", target };
        if (m === "GET" && q.peekonly === "true") return { operation: "Peek Messages", target };
        if (m === "GET") return { operation: "Get Messages", target };
        if (m === "DELETE") return { operation: "Clear Messages", target };
      } else {
        if (m === "DELETE") return { operation: "Delete Message", target };
        if (m === "PUT") return { operation: "Update Message", target };
      }
    }
    throw new Error(`unclassified queue request ${m} ${r.path}?${new URLSearchParams(q).toString()}`);
  }
  const target: Target = { kind: "container", name: first };
  if (rest.length === 0) {
    if (q.restype === "container" && q.comp === "list" && m === "GET")
      return { operation: "List Blobs", target };
    if (q.restype === "container" && q.comp === "lease") return { operation: "Lease Container", target };
    if (q.restype === "container" && q.comp === "metadata" && m === "PUT")
      return { operation: "Set Container Metadata", target };
    if (q.restype === "container" && q.comp === undefined) {
      if (m === "PUT") return { operation: "Create Container", target };
      if (m === "DELETE") return { operation: "Delete Container", target };
      if (m === "GET" || m === "HEAD") return { operation: "Get Container Properties", target };
    }
    throw new Error(`unclassified container request ${m} ${r.path}?${new URLSearchParams(q).toString()}`);
  }
  if (m === "PUT") {
    if (q.comp === "lease") return { operation: "Lease Blob", target };
    if (q.comp === "block") return { operation: "Put Block", target };
    if (q.comp === "blocklist") return { operation: "Put Block List", target };
    if (q.comp === "metadata") return { operation: "Set Blob Metadata", target };
    if (q.comp === "properties") return { operation: "Set Blob Properties", target };
    if (q.comp === "tier") return { operation: "Set Blob Tier", target };
    if (q.comp === "tags") return { operation: "Set Blob Tags", target };
    if (q.comp === undefined && r.headers["x-ms-copy-source"] !== undefined)
      return { operation: r.headers["x-ms-blob-type"] ? "Put Blob from URL" : "Copy Blob", target };
    if (q.comp === undefined) return { operation: "Put Blob", target };
  }
  if (m === "GET" || m === "HEAD") {
    if (q.comp === "blocklist") return { operation: "Get Block List", target };
    if (q.comp === "metadata") return { operation: "Get Blob Metadata", target };
    if (q.comp === "tags") return { operation: "Get Blob Tags", target };
    if (q.comp === undefined) return { operation: m === "GET" ? "Get Blob" : "Get Blob Properties", target };
  }
  if (m === "DELETE" && q.comp === undefined) return { operation: "Delete Blob", target };
  throw new Error(`unclassified blob request ${m} ${r.path}?${new URLSearchParams(q).toString()}`);
}

/** Names the Key Vault operation of a request to the simulated vault (secrets API). */
function vaultOperation(r: ProxiedRequest): { operation: string; target: Target } {
  const match = /^\/secrets(?:\/([^/]+)(?:\/([^/]*))?)?\/?$/.exec(r.path);
  if (!match) throw new Error(`unclassified Key Vault request ${r.method} ${r.path}`);
  const [, name, version] = match;
  if (name === undefined && r.method === "GET")
    return { operation: "Get Secrets", target: { kind: "vault" } };
  if (name !== undefined) {
    const target: Target = { kind: "secret", name };
    if (r.method === "GET" && version === "versions") return { operation: "Get Secret Versions", target };
    if (r.method === "GET") return { operation: "Get Secret", target };
    if (r.method === "PUT") return { operation: "Set Secret", target };
    if (r.method === "PATCH") return { operation: "Update Secret", target };
    if (r.method === "DELETE") return { operation: "Delete Secret", target };
  }
  throw new Error(`unclassified Key Vault request ${r.method} ${r.path}`);
}

function describeTarget(t: Target): string {
  switch (t.kind) {
    case "account":
      return "storage account";
    case "vault":
      return "key vault";
    default:
      return `${t.kind} ${t.name}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Roles and the template's assignments
// ---------------------------------------------------------------------------------------------

interface RoleDefinition {
  readonly id: string;
  readonly source: string;
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
  readonly dataActions: readonly string[];
  readonly notDataActions: readonly string[];
}

const ROLES = roleData.roles as Record<string, RoleDefinition>;
const DATA_ACTION_PREFIXES = actionData.dataActionPatterns.map((p) => p.toLowerCase());

function roleById(id: string): [string, RoleDefinition] | undefined {
  return Object.entries(ROLES).find(([, r]) => r.id === id.toLowerCase());
}

/** ARM permission patterns: `*` matches any run of characters, case-insensitively. */
function matches(pattern: string, permission: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
      .join(".*")}$`,
    "i",
  );
  return regex.test(permission);
}

function isDataAction(permission: string): boolean {
  return DATA_ACTION_PREFIXES.some((prefix) => permission.toLowerCase().startsWith(prefix));
}

/** Whether a role grants one permission: its actions for actions, its data actions for data actions. */
function roleGrants(role: RoleDefinition, permission: string): boolean {
  const [allow, deny] = isDataAction(permission)
    ? [role.dataActions, role.notDataActions]
    : [role.actions, role.notActions];
  return allow.some((p) => matches(p, permission)) && !deny.some((p) => matches(p, permission));
}

interface Grant {
  /** "app" (the function app's identity) or "admin" (principalId, the deploying user). */
  readonly principal: string;
  readonly roleName: string;
  readonly role: RoleDefinition;
  /** Resource id the assignment is scoped to. */
  readonly scope: string;
}

/** Every role assignment a deployment makes, with its role resolved and its principal named. */
function grantsOf(d: Deployment): Grant[] {
  const rg = d.resources.find((r) => r.type === "Microsoft.Resources/resourceGroups")!.id;
  const identity = d.resources.find((r) => r.type === "Microsoft.ManagedIdentity/userAssignedIdentities")!.id;
  return d.resources
    .filter((r) => r.type === "Microsoft.Authorization/roleAssignments" && !r.existing)
    .map((r) => {
      const p = props(r);
      const roleId =
        str(p.roleDefinitionId ?? null)
          .split("/")
          .pop() ?? "";
      const found = roleById(roleId);
      if (!found)
        throw new Error(`role assignment ${r.name} names role ${roleId}, not a built-in role on record`);
      const principal: Value = p.principalId ?? null;
      const name =
        principal instanceof Runtime && principal.expr === `reference(${identity}).principalId`
          ? "app"
          : principal === USER_ID
            ? "admin"
            : `unknown principal ${str(principal)}`;
      const scope = str(r.body.scope ?? null);
      return {
        principal: name,
        roleName: found[0],
        role: found[1],
        scope: scope.startsWith("/") ? scope : `${rg}/providers/${scope}`,
      };
    });
}

/** The resource id an operation acts on, in this deployment; an error when the template lacks it. */
function resourceIdOf(d: Deployment, t: Target): string {
  const only = (type: string): string => {
    const found = d.resources.filter((r) => r.type === type && !r.existing);
    if (found.length !== 1) throw new Error(`expected one ${type}`);
    return found[0]!.id;
  };
  const named = (type: string, name: string): string => {
    const found = d.resources.find((r) => r.type === type && !r.existing && r.name.split("/").pop() === name);
    if (!found) throw new Error(`the template creates no ${type.split("/").pop()} named ${name}`);
    return found.id;
  };
  switch (t.kind) {
    case "account":
      return only("Microsoft.Storage/storageAccounts");
    case "container":
      return named("Microsoft.Storage/storageAccounts/blobServices/containers", t.name);
    case "queue":
      return named("Microsoft.Storage/storageAccounts/queueServices/queues", t.name);
    case "vault":
      return only("Microsoft.KeyVault/vaults");
    case "secret":
      // Secrets are written at run time, not by the template: named under the vault.
      return `${only("Microsoft.KeyVault/vaults")}/secrets/${t.name}`;
    case "component":
      return only("Microsoft.Insights/components");
  }
}

function within(resource: string, scope: string): boolean {
  const r = resource.toLowerCase();
  const s = scope.toLowerCase();
  return r === s || r.startsWith(`${s}/`);
}

/**
 * What the grants leave uncovered: one line per operation naming the actor, the operation, the
 * resource, how it was seen, and the roles the principal holds there. Empty when all is covered.
 */
function uncovered(
  ops: readonly Operation[],
  grants: readonly Grant[],
  principal: string,
  d: Deployment,
): string[] {
  const problems = new Set<string>();
  for (const op of ops) {
    const spec = OPERATIONS[op.operation];
    if (!spec) {
      problems.add(`${op.actor}: ${op.operation} (${op.evidence}) is not in test/infra/dataActions.json`);
      continue;
    }
    let resource: string;
    try {
      resource = resourceIdOf(d, op.target);
    } catch (error) {
      problems.add(
        `${op.actor}: ${op.operation} on ${describeTarget(op.target)}: ${(error as Error).message}`,
      );
      continue;
    }
    const applicable = grants.filter((g) => g.principal === principal && within(resource, g.scope));
    const ok = spec.anyOf.some((set) =>
      set.every((perm) => applicable.some((g) => roleGrants(g.role, perm))),
    );
    if (!ok) {
      const held = applicable.map((g) => g.roleName);
      problems.add(
        `${op.actor}: ${op.operation} on ${describeTarget(op.target)} (${op.evidence}) needs ${spec.anyOf
          .map((set) => set.join(" + "))
          .join(" or ")}; held there: ${held.length > 0 ? held.join(", ") : "no role"}`,
      );
    }
  }
  return [...problems].sort();
}

// ---------------------------------------------------------------------------------------------
// The recorded runs
// ---------------------------------------------------------------------------------------------

let azurite: AzuriteHandle;
let cloud: LocalCloud;
let blobProxy: RecordingProxy;
let queueProxy: RecordingProxy;
let vaultProxy: RecordingProxy;
let env: Record<string, string>;
const recorded: Operation[] = [];
/** What afterAll stops, in reverse order of start. */
const cleanups: (() => Promise<void>)[] = [];

function actAs(actor: string): void {
  for (const proxy of [blobProxy, queueProxy, vaultProxy]) proxy.actAs(actor);
}

function collect(): void {
  const seen = (proxy: RecordingProxy, service: "blob" | "queue" | "vault"): Operation[] =>
    proxy.requests
      .map((r) => {
        const { operation, target } = service === "vault" ? vaultOperation(r) : storageOperation(service, r);
        const query = new URLSearchParams(r.query);
        query.delete("sig");
        const line = `${r.method} ${r.path}${query.size > 0 ? `?${query.toString()}` : ""}`;
        const op: Operation = { actor: r.actor, operation, target, evidence: `${service}: ${line}` };
        // A copy reads its source too: a blob of this account, named by the x-ms-copy-source header.
        const source = r.headers["x-ms-copy-source"];
        if (source === undefined) return [op];
        const [, sourceContainer = ""] = decodeURIComponent(new URL(source).pathname).split("/").slice(1);
        return [
          op,
          {
            ...op,
            operation: "Copy Blob (source in the same account)",
            target: { kind: "container", name: sourceContainer } as const,
          },
        ];
      })
      .flat();
  recorded.push(...seen(blobProxy, "blob"), ...seen(queueProxy, "queue"), ...seen(vaultProxy, "vault"));
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  // The browser of `auth login --auth-code`: the simulator approves and redirects to the CLI's listener.
  const browse = (line: string): void => {
    const url = /https:\/\/\S+\/oauth2\/v2\.0\/authorize\S*/.exec(line)?.[0];
    if (url) void fetch(url).then((response) => response.body?.cancel());
  };
  const io: CliIo = {
    interactive: false,
    out: (l) => {
      out.push(l);
      browse(l);
    },
    err: (l) => {
      err.push(l);
      browse(l);
    },
  };
  const code = await runCli(argv, env, io, {
    openApp: (settings, logger) => createApp(settings, { logger }),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

function context(name: string, triggerMetadata?: Record<string, unknown>): InvocationContext {
  return new Context({
    invocationId: `inv-${name}`,
    functionName: name,
    ...(triggerMetadata ? { triggerMetadata } : {}),
    logHandler: () => undefined,
  });
}

/** A bearer token: enough for the SDK to send a request the way it does in Azure (Azurite refuses it). */
const bearer: TokenCredential = {
  getToken: (): Promise<AccessToken> =>
    Promise.resolve({ token: "recorded-only", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

async function runAppIdentity(settings: Settings): Promise<void> {
  const logger = createLogger("error", () => undefined);
  const app = lazyApp(() => createApp(settings, { logger }));
  const host: FunctionHost = { settings, app, jobQueueName: "export-jobs", apiTokens: testApiTokens() };
  const definitions = appFunctions(host, parseSchedule(settings.schedule));
  const http = (name: string): Extract<FunctionDefinition, { kind: "http" }> =>
    definitions.find(
      (d): d is Extract<FunctionDefinition, { kind: "http" }> => d.name === name && d.kind === "http",
    )!;

  // HTTP submit, list and status.
  const submit = (await http("exports").options.handler(
    new HttpRequest({
      method: "POST",
      url: "https://app.example/api/exports",
      body: { string: JSON.stringify({ profile: "all-referrals" }) },
      headers: { ...AUTH, "content-type": "application/json" },
    }),
    context("exports"),
  )) as HttpResponseInit;
  expect(submit.status).toBe(202);
  const runId = (JSON.parse(typeof submit.body === "string" ? submit.body : "{}") as { runId: string }).runId;

  // The queue trigger, as the Functions host plays it: take the job, hand it to the worker.
  const worker = definitions.find((d) => d.kind === "storageQueue" && d.name === "exportWorker")!;
  const poisoned = definitions.find((d) => d.kind === "storageQueue" && d.name !== "exportWorker");
  const runNextJob = async (): Promise<void> => {
    const a = await app();
    actAs("app (Functions host)");
    const received = await a.jobs.queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 300 });
    const item = received.receivedMessageItems[0];
    if (!item) throw new Error("no job on the queue");
    actAs("app");
    const job = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as unknown;
    if (worker.kind !== "storageQueue") throw new Error("not a queue function");
    await worker.options.handler(job, context("exportWorker", { dequeueCount: item.dequeueCount }));
    actAs("app (Functions host)");
    await a.jobs.queue.deleteMessage(item.messageId, item.popReceipt);
    actAs("app");
  };
  await runNextJob();

  // The nightly timer queues the scheduled profile; the worker runs it (a second snapshot: change feed).
  const timers = definitions.filter(
    (d): d is Extract<FunctionDefinition, { kind: "timer" }> => d.kind === "timer",
  );
  for (const timer of timers) {
    await timer.options.handler(
      { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: {} as never },
      context(timer.name),
    );
  }
  await runNextJob();

  for (const [name, query] of [
    ["exports", ""],
    ["exportStatus", "?readLinks=true"],
  ] as const) {
    const response = (await http(name).options.handler(
      new HttpRequest({
        headers: AUTH,
        method: "GET",
        url: `https://app.example/api/exports${name === "exportStatus" ? `/${runId}` : ""}${query}`,
        ...(name === "exportStatus" ? { params: { runId } } : {}),
      }),
      context(name),
    )) as HttpResponseInit;
    expect(response.status, name).toBe(200);
  }
  // Every other HTTP function (health and whatever comes next) answers a plain GET.
  for (const d of definitions) {
    if (d.kind !== "http" || d.name === "exports" || d.name === "exportStatus") continue;
    await d.options.handler(
      new HttpRequest({ headers: AUTH, method: "GET", url: `https://app.example/api/${d.options.route}` }),
      context(d.name),
    );
  }
  // The poison-queue watcher with a job that ran out of deliveries.
  if (poisoned?.kind === "storageQueue") {
    const a = await app();
    actAs("app (Functions host)");
    await a.jobs.sendToPoison(JSON.stringify({ runId: "20260101T000000Z-zzzzzz", profile: "all-referrals" }));
    actAs("app");
    await poisoned.options.handler(
      { runId: runId, profile: "all-referrals" },
      context(poisoned.name, { dequeueCount: 5 }),
    );
  }

  // Read links in Azure: the signer asks Storage for a user delegation key with the app's token.
  const a = await app();
  const signer = createReadLinkSigner(
    new BlobServiceClient(`${blobProxy.url}/${AZURITE_ACCOUNT}`, bearer),
    a.exportContainer,
    { lifetimeMinutes: 15 },
  );
  await signer.sign(["all-referrals/latest/_manifest.json"]).catch(() => undefined);
}

beforeAll(async () => {
  // Its own Azurite: the real container and queue names, untouched by other test files.
  azurite = await startAzurite();
  cleanups.push(() => azurite.stop());
  // Access tokens inside MSAL's five-minute refresh window: every sign-in refreshes and stores the cache.
  cloud = await startLocalCloud({ rows: 400, seed: 11, registry: { accessTokenLifetimeSeconds: 120 } });
  cleanups.push(() => cloud.close());
  const tls = { key: cloud.tls.key, cert: cloud.tls.cert };
  blobProxy = await startRecordingProxy({ target: `http://127.0.0.1:${azurite.blobPort}`, tls });
  queueProxy = await startRecordingProxy({ target: `http://127.0.0.1:${azurite.queuePort}`, tls });
  vaultProxy = await startRecordingProxy({ target: cloud.url, tls });
  cleanups.push(
    () => blobProxy.close(),
    () => queueProxy.close(),
    () => vaultProxy.close(),
  );
  env = {
    ...cloud.settingsEnv(),
    KEY_VAULT_URL: vaultProxy.url,
    EXPORT_STORAGE_CONNECTION_STRING: [
      "DefaultEndpointsProtocol=https",
      `AccountName=${AZURITE_ACCOUNT}`,
      `AccountKey=${AZURITE_KEY}`,
      `BlobEndpoint=${blobProxy.url}/${AZURITE_ACCOUNT}`,
      `QueueEndpoint=${queueProxy.url}/${AZURITE_ACCOUNT}`,
    ].join(";"),
    EXPORT_CONTAINER: "referrals",
    EXPORT_PROFILES: JSON.stringify([{ name: "all-referrals", formats: ["csv", "json"], schedule: true }]),
    HTTP_READ_LINK_MINUTES: "15",
    LOG_LEVEL: "error",
  };
  // DefaultAzureCredential (the Key Vault client) reads these from the process environment.
  for (const key of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
    process.env[key] = env[key];

  // The deploying admin, from a workstation: consent, then check it.
  actAs("admin");
  // The browser sign-in with the client secret: the confidential client, as the app refreshes later.
  const login = await cli(["auth", "login", "--auth-code"]);
  expect(login.code, login.err).toBe(0);
  expect((await cli(["auth", "status"])).code).toBe(0);

  // The app identity: every function of the app, with the client secret from Key Vault.
  actAs("app");
  await runAppIdentity(loadSettings(env));

  // The same app with a certificate credential: it reads the certificate's secret instead.
  const pem = await generate([{ name: "commonName", value: "referrals-export" }], {
    keySize: 2048,
    algorithm: "sha256",
  });
  const certificate = `${pem.private}\n${pem.cert}`;
  cloud.entra.addApp({
    clientId: LOCAL_CLIENT_ID,
    certificatePem: certificate,
    allowPublicClientFlows: true,
  });
  cloud.vault.seedSecret("partner-center-client-certificate", certificate, {
    contentType: "application/x-pem-file",
  });
  actAs("app (certificate credential)");
  const certificateApp = createApp(
    loadSettings({
      ...env,
      PARTNER_CENTER_CREDENTIAL: "certificate",
      PARTNER_CENTER_CERTIFICATE_NAME: "partner-center-client-certificate",
    }),
    { logger: createLogger("error", () => undefined) },
  );
  await certificateApp
    .partnerCenterCredential()
    .getToken("https://api.partnercenter.microsoft.com/user_impersonation");

  // The admin again: the run records and the exports.
  actAs("admin");
  const runs = await cli(["runs", "list", "--json"]);
  expect(runs.code, runs.err).toBe(0);
  await readExports();

  // A reader of the exports (Storage Blob Data Reader): the latest snapshot, and a link from code.
  actAs("reader");
  await readExports();
  await new BlobServiceClient(`${blobProxy.url}/${AZURITE_ACCOUNT}`, bearer)
    .getUserDelegationKey(new Date(), new Date(Date.now() + 3_600_000))
    .catch(() => undefined);

  collect();
}, 240_000);

/** What `az storage blob list` and `download` do: list the latest snapshot, read the manifest and a file. */
async function readExports(): Promise<void> {
  const service = BlobServiceClient.fromConnectionString(env.EXPORT_STORAGE_CONNECTION_STRING!);
  const container = service.getContainerClient("referrals");
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix: "all-referrals/latest/" }))
    names.push(blob.name);
  expect(names).toContain("all-referrals/latest/_manifest.json");
  for (const name of names.slice(0, 2)) await container.getBlobClient(name).downloadToBuffer();
}

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

let template: ArmTemplate;
const deploy = (parameters: Record<string, Value> = {}): Deployment => deployTemplate(template, parameters);

beforeAll(() => {
  ({ template } = loadCompiledTemplate());
}, 300_000);

interface PlatformFact {
  readonly actor: string;
  readonly operation: string;
  readonly target: Target;
  readonly why: string;
  readonly source: string;
}

const PLATFORM: Operation[] = (actionData.platform as PlatformFact[]).map((f) => ({
  actor: `${f.actor} (platform)`,
  operation: f.operation,
  target: f.target,
  evidence: `${f.why} ${f.source}`,
}));

const of = (...actors: string[]): Operation[] => recorded.filter((o) => actors.includes(o.actor));
/** The app identity's operations in every configuration: its code, the host's trigger, the platform. */
const appOps = (): Operation[] => [
  ...of("app", "app (Functions host)", "app (certificate credential)"),
  ...PLATFORM,
];

describe("the recorded operations", () => {
  it("cover each actor's code paths: storage and Key Vault for the app and the admin, blobs for a reader", () => {
    const summary = (actor: string): string[] =>
      [...new Set(of(actor).map((o) => `${o.operation} | ${describeTarget(o.target)}`))].sort();
    expect(summary("app")).toEqual(
      expect.arrayContaining([
        "Create Container | container referrals",
        "Put Block List | container referrals",
        "Lease Blob | container export-locks",
        "Put Message | queue export-jobs",
        "Get Secret | secret partner-center-token-cache",
        "Set Secret | secret partner-center-token-cache",
        "Get Secret | secret partner-center-client-secret",
        "Get User Delegation Key | storage account",
      ]),
    );
    expect(summary("app (certificate credential)")).toContain(
      "Get Secret | secret partner-center-client-certificate",
    );
    expect(summary("admin")).toEqual(
      expect.arrayContaining([
        "Create Container | container export-locks",
        "Lease Blob | container export-locks",
        "Set Secret | secret partner-center-token-cache",
        "List Blobs | container export-runs",
        "Get Blob | container referrals",
      ]),
    );
    expect(summary("reader")).toEqual(
      expect.arrayContaining(["List Blobs | container referrals", "Get Blob | container referrals"]),
    );
    // Every request was classified (an unknown one throws while collecting) and is in the data.
    for (const op of recorded) expect(OPERATIONS, op.evidence).toHaveProperty([op.operation]);
    // PERMISSIONS_REPORT=1 prints each actor's operations (the table in docs/deployment.md comes from it).
    if (process.env.PERMISSIONS_REPORT === "1") {
      for (const actor of new Set(recorded.map((o) => o.actor)))
        console.log(`${actor}:\n  ${summary(actor).join("\n  ")}`);
    }
  });
});

describe("the template grants each actor what its operations need", () => {
  it("assigns only built-in roles on record, to the app identity or the deploying user", () => {
    for (const d of [deploy(), deploy({ httpReadLinkMinutes: 15, partnerCenterCredential: "secret" })]) {
      for (const g of grantsOf(d))
        expect(["app", "admin"], `${g.roleName} at ${g.scope}`).toContain(g.principal);
    }
  });

  it("app identity, client secret and read links on: every recorded and platform operation", () => {
    const d = deploy({ httpReadLinkMinutes: 15, partnerCenterCredential: "secret" });
    const ops = appOps().filter((o) => o.actor !== "app (certificate credential)");
    expect(uncovered(ops, grantsOf(d), "app", d)).toEqual([]);
  });

  it("app identity with a certificate credential reads the certificate's secret", () => {
    const d = deploy({ partnerCenterCredential: "certificate" });
    expect(uncovered(of("app (certificate credential)"), grantsOf(d), "app", d)).toEqual([]);
  });

  it("app identity with the defaults (managed identity, read links off) gets no delegation keys; Key Vault at vault scope (its secrets are written after deployment)", () => {
    const d = deploy();
    expect(uncovered(appOps(), grantsOf(d), "app", d)).toEqual([
      expect.stringMatching(/^app: Get User Delegation Key on storage account .*held there: no role$/),
    ]);
  });

  it("deploying admin: auth login, auth status, runs list and reading the exports", () => {
    const d = deploy();
    expect(uncovered(of("admin"), grantsOf(d), "admin", d)).toEqual([]);
  });

  it("deploying admin: nothing at all when principalId is empty", () => {
    const d = deploy({ principalId: "" });
    expect(grantsOf(d).filter((g) => g.principal === "admin")).toEqual([]);
    expect(uncovered(of("admin"), grantsOf(d), "admin", d).length).toBeGreaterThan(0);
  });

  it("reader with Storage Blob Data Reader on the exports container reads exports, but signs no user delegation SAS", () => {
    // The reader's assignment is made by an administrator as docs/consumers.md shows, not by the template.
    const d = deploy();
    const container = resourceIdOf(d, { kind: "container", name: "referrals" });
    const account = resourceIdOf(d, { kind: "account" });
    const reader = (scope: string): Grant[] => [
      {
        principal: "reader",
        roleName: "Storage Blob Data Reader",
        role: ROLES["Storage Blob Data Reader"]!,
        scope,
      },
    ];
    const reading = of("reader").filter((o) => o.operation !== "Get User Delegation Key");
    expect(uncovered(reading, reader(container), "reader", d)).toEqual([]);
    // Get User Delegation Key is a service-level operation: a container-scoped role cannot grant it.
    expect(uncovered(of("reader"), reader(container), "reader", d)).toEqual([
      expect.stringMatching(/^reader: Get User Delegation Key on storage account .*held there: no role$/),
    ]);
    expect(uncovered(of("reader"), reader(account), "reader", d)).toEqual([]);
  });
});

describe("least privilege", () => {
  it("grants nothing the operations do not need: without any one assignment, some operation fails", () => {
    const d = deploy({ httpReadLinkMinutes: 15, partnerCenterCredential: "secret" });
    const grants = grantsOf(d);
    const ops = {
      app: appOps().filter((o) => o.actor !== "app (certificate credential)"),
      admin: of("admin"),
    };
    for (const [i, g] of grants.entries()) {
      const others = grants.filter((_, j) => j !== i);
      const principal = g.principal as keyof typeof ops;
      const lost = uncovered(ops[principal], others, principal, d);
      expect(lost, `${g.roleName} for ${g.principal} at ${g.scope} is needed by no operation`).not.toEqual(
        [],
      );
    }
  });

  it("scopes storage roles to containers and queues, and the app's Key Vault role to its vault", () => {
    const d = deploy({ httpReadLinkMinutes: 15, partnerCenterCredential: "secret" });
    const account = resourceIdOf(d, { kind: "account" });
    const vault = resourceIdOf(d, { kind: "vault" });
    for (const g of grantsOf(d)) {
      const where = `${g.roleName} for ${g.principal}`;
      if (g.scope === account) expect(g.roleName, where).toBe("Storage Blob Delegator");
      else if (within(g.scope, account))
        expect(g.scope, where).toMatch(
          /\/(blobServices\/default\/containers|queueServices\/default\/queues)\/[^/]+$/,
        );
      // Not a secret: the app's secrets are written after deployment, and a role can only be
      // scoped to a secret that exists.
      if (g.principal === "app" && within(g.scope, vault)) expect(g.scope, where).toBe(vault);
      expect(g.roleName, where).not.toBe("Storage Blob Data Owner");
    }
  });
});
