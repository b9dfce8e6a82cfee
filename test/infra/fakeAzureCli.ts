/**
 * A stand-in for the Azure CLI (`az`) and the Azure Developer CLI (`azd`), for the hook tests: the
 * tests put a shell wrapper named `az` (and `azd`) first on PATH that runs this file (transpiled to
 * JavaScript) as `node fakeAzureCli.mjs az|azd <args>`.
 *
 * It keeps a small Microsoft Entra directory in a JSON file (FAKE_AZURE_STATE) and answers the
 * commands the hooks use the way the real ones do, including the refusals that matter to them:
 * an enabled app role cannot be removed or renamed, a pre-authorization must name an existing
 * scope, an app role assignment must name a role of the application and cannot be made twice.
 * Every call is appended to FAKE_AZURE_LOG (one JSON line: the tool, its arguments, and the
 * content of every `@file` argument, which the hooks delete afterwards).
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";

export interface AppRole {
  id: string;
  value: string;
  displayName?: string;
  description?: string;
  isEnabled?: boolean;
  allowedMemberTypes?: string[];
  origin?: string;
}

export interface PermissionScope {
  id: string;
  value: string;
  type?: string;
  isEnabled?: boolean;
  [key: string]: unknown;
}

export interface PreAuthorizedApplication {
  appId: string;
  delegatedPermissionIds: string[];
}

export interface Application {
  id: string;
  appId: string;
  displayName: string;
  signInAudience?: string;
  identifierUris: string[];
  appRoles: AppRole[];
  api: {
    requestedAccessTokenVersion: number | null;
    oauth2PermissionScopes: PermissionScope[];
    preAuthorizedApplications: PreAuthorizedApplication[];
  };
  web: { redirectUris: string[]; implicitGrantSettings?: Record<string, boolean> };
}

export interface ServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  appRoleAssignmentRequired: boolean;
}

export interface AppRoleAssignment {
  id: string;
  principalId: string;
  resourceId: string;
  appRoleId: string;
}

export interface FakeDirectory {
  /** `az account show`: the signed-in account's default subscription. */
  account: { id: string; tenantId: string };
  /** Other subscriptions the CLI can see (`az account show --subscription`). */
  subscriptions?: Record<string, { tenantId: string }>;
  /** `az ad signed-in-user show`; absent when the CLI is signed in as a service principal. */
  signedInUser?: { id: string };
  applications: Application[];
  servicePrincipals: ServicePrincipal[];
  assignments: AppRoleAssignment[];
  /** Assignments per page of `appRoleAssignedTo` (Graph pages with @odata.nextLink). */
  pageSize?: number;
  /** Command lines (argument prefixes, e.g. "ad app update --id X") refused for lack of privileges. */
  refuse?: string[];
  /** azd environments: what `azd env set` stored. */
  azdEnv?: Record<string, Record<string, string>>;
  /** Counter for new object ids. */
  created?: number;
}

export interface LoggedCall {
  tool: "az" | "azd";
  args: string[];
  /** Content of each `@file` argument, by argument position. */
  files: Record<number, unknown>;
}

const GRAPH = "https://graph.microsoft.com/v1.0";

class Failure extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

function main(): void {
  const [tool, ...args] = process.argv.slice(2);
  const statePath = process.env.FAKE_AZURE_STATE;
  const logPath = process.env.FAKE_AZURE_LOG;
  if ((tool !== "az" && tool !== "azd") || !statePath || !logPath) {
    process.stderr.write(
      "fake: run as `fakeAzureCli.mjs az|azd ...` with FAKE_AZURE_STATE and FAKE_AZURE_LOG\n",
    );
    process.exit(2);
  }
  const files: Record<number, unknown> = {};
  args.forEach((a, i) => {
    if (a.startsWith("@")) files[i] = JSON.parse(readFileSync(a.slice(1), "utf8")) as unknown;
  });
  appendFileSync(logPath, `${JSON.stringify({ tool, args, files } satisfies LoggedCall)}\n`);

  const directory = JSON.parse(readFileSync(statePath, "utf8")) as FakeDirectory;
  try {
    const line = args.join(" ");
    if (directory.refuse?.some((prefix) => line.startsWith(prefix)))
      throw new Failure("ERROR: Insufficient privileges to complete the operation.");
    let output: unknown;
    if (tool === "azd") azd(directory, args);
    else output = az(directory, args, files);
    writeFileSync(statePath, JSON.stringify(directory, null, 2));
    const format = parse(args).options.output?.[0] ?? "json";
    if (output !== undefined && format === "json")
      process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(error.exitCode);
  }
}

/** Positional words, then `--name value...` options (every value up to the next `--name`). */
function parse(args: string[]): { words: string[]; options: Record<string, string[]> } {
  const words: string[] = [];
  const options: Record<string, string[]> = {};
  let current: string[] | undefined;
  for (const arg of args) {
    if (arg.startsWith("--")) {
      current = options[arg.slice(2)] = [];
    } else if (current) {
      current.push(arg);
    } else {
      words.push(arg);
    }
  }
  return { words, options };
}

function one(options: Record<string, string[]>, name: string): string {
  const value = options[name]?.[0];
  if (value === undefined) throw new Failure(`the following arguments are required: --${name}`, 2);
  return value;
}

function newId(directory: FakeDirectory): string {
  directory.created = (directory.created ?? 0) + 1;
  return `00000000-0000-4000-8000-${String(directory.created).padStart(12, "0")}`;
}

function azd(directory: FakeDirectory, args: string[]): void {
  const { words, options } = parse(args);
  if (words[0] !== "env" || words[1] !== "set" || words.length !== 4)
    throw new Failure(`fake azd: unsupported: ${args.join(" ")}`, 2);
  const environment = one(options, "environment");
  directory.azdEnv ??= {};
  (directory.azdEnv[environment] ??= {})[words[2]!] = words[3]!;
}

function az(directory: FakeDirectory, args: string[], files: Record<number, unknown>): unknown {
  const { words, options } = parse(args);
  const file = (name: string): unknown => {
    const at = args.indexOf(`--${name}`) + 1;
    if (at === 0 || !(at in files)) throw new Failure(`fake az: --${name} must be an @file`, 2);
    return files[at];
  };
  const command = words.join(" ");
  switch (command) {
    case "account show": {
      const subscription = options.subscription?.[0];
      if (subscription === undefined || subscription === directory.account.id) return directory.account;
      const other = directory.subscriptions?.[subscription];
      if (!other) throw new Failure(`ERROR: Subscription '${subscription}' not found.`);
      return { id: subscription, ...other };
    }
    case "cloud show":
      return { name: "AzureCloud", endpoints: { microsoftGraphResourceId: "https://graph.microsoft.com/" } };
    case "ad signed-in-user show":
      if (!directory.signedInUser)
        throw new Failure("ERROR: /me request is only valid with delegated authentication flow.");
      return directory.signedInUser;
    case "ad app list": {
      const appId = options["app-id"]?.[0];
      const name = options["display-name"]?.[0];
      return directory.applications.filter(
        (a) =>
          (appId === undefined || a.appId === appId) &&
          (name === undefined || a.displayName.startsWith(name)),
      );
    }
    case "ad app create": {
      const roles = (options["app-roles"] ? file("app-roles") : []) as AppRole[];
      const version = options["requested-access-token-version"]?.[0];
      const app: Application = {
        id: newId(directory),
        appId: newId(directory),
        displayName: one(options, "display-name"),
        signInAudience: options["sign-in-audience"]?.[0] ?? "AzureADandPersonalMicrosoftAccount",
        identifierUris: [],
        appRoles: checkRoles([], roles),
        api: {
          requestedAccessTokenVersion: version === undefined ? null : Number(version),
          oauth2PermissionScopes: [],
          preAuthorizedApplications: [],
        },
        web: { redirectUris: [], implicitGrantSettings: { enableIdTokenIssuance: false } },
      };
      directory.applications.push(app);
      return app;
    }
    case "ad app update": {
      const app = application(directory, one(options, "id"));
      if (options["identifier-uris"]) app.identifierUris = options["identifier-uris"];
      if (options["web-redirect-uris"]) app.web.redirectUris = options["web-redirect-uris"];
      if (options["app-roles"]) app.appRoles = checkRoles(app.appRoles, file("app-roles") as AppRole[]);
      if (options["requested-access-token-version"])
        app.api.requestedAccessTokenVersion = Number(options["requested-access-token-version"][0]);
      return undefined;
    }
    case "ad sp list": {
      const filter = one(options, "filter");
      const appId = /^appId eq '([^']+)'$/.exec(filter)?.[1];
      if (appId === undefined) throw new Failure(`fake az: unsupported filter ${filter}`, 2);
      return directory.servicePrincipals.filter((s) => s.appId === appId).map((s) => withRoles(directory, s));
    }
    case "ad sp create": {
      const app = application(directory, one(options, "id"));
      if (directory.servicePrincipals.some((s) => s.appId === app.appId))
        throw new Failure(
          "ERROR: Another object with the same value for property servicePrincipalNames already exists.",
        );
      const sp: ServicePrincipal = {
        id: newId(directory),
        appId: app.appId,
        displayName: app.displayName,
        appRoleAssignmentRequired: false,
      };
      directory.servicePrincipals.push(sp);
      return withRoles(directory, sp);
    }
    case "ad sp update": {
      const sp = directory.servicePrincipals.find((s) => s.id === one(options, "id"));
      if (!sp) throw new Failure("ERROR: Resource does not exist.");
      for (const assignment of options.set ?? []) {
        if (assignment !== "appRoleAssignmentRequired=true")
          throw new Failure(`fake az: unsupported --set ${assignment}`, 2);
        sp.appRoleAssignmentRequired = true;
      }
      return undefined;
    }
    case "rest":
      return rest(directory, one(options, "method").toLowerCase(), one(options, "url"), () => file("body"));
    default:
      throw new Failure(`fake az: unsupported command: ${args.join(" ")}`, 2);
  }
}

function application(directory: FakeDirectory, id: string): Application {
  const app = directory.applications.find((a) => a.appId === id || a.id === id);
  if (!app)
    throw new Failure(
      `ERROR: Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
    );
  return app;
}

/** A service principal as Graph shows it: with its application's roles. */
function withRoles(
  directory: FakeDirectory,
  sp: ServicePrincipal,
): ServicePrincipal & { appRoles: AppRole[] } {
  const app = application(directory, sp.appId);
  return { ...sp, appRoles: app.appRoles };
}

/** Graph's rules for replacing the app roles: an enabled role is neither dropped nor renamed. */
function checkRoles(current: AppRole[], next: AppRole[]): AppRole[] {
  for (const role of next) {
    if (!/^[0-9a-f-]{36}$/.test(role.id)) throw new Failure(`ERROR: app role ${role.value} has no valid id`);
    if ("origin" in role) throw new Failure("ERROR: Property 'origin' is read-only.");
  }
  for (const role of current.filter((r) => r.isEnabled !== false)) {
    const replacement = next.find((r) => r.id === role.id);
    if (!replacement || replacement.value !== role.value)
      throw new Failure(
        "ERROR: CannotDeleteOrUpdateEnabledEntitlement: Permission (scope or role) cannot be deleted or updated unless disabled first.",
      );
  }
  if (new Set(next.map((r) => r.value)).size !== next.length)
    throw new Failure("ERROR: duplicate app role value");
  return next.map((r) => ({ ...r, origin: "Application" }));
}

function rest(directory: FakeDirectory, method: string, url: string, body: () => unknown): unknown {
  if (!url.startsWith(`${GRAPH}/`)) throw new Failure(`fake az: unexpected URL ${url}`, 2);
  const path = new URL(url).pathname.replace(/^\/v1\.0\//, "");
  const skip = Number(new URL(url).searchParams.get("$skiptoken") ?? "0");
  const appMatch = /^applications\/([^/]+)$/.exec(path);
  if (appMatch && method === "patch") {
    const app = directory.applications.find((a) => a.id === appMatch[1]);
    if (!app) throw new Failure('ERROR: Not Found({"error":{"code":"Request_ResourceNotFound"}})');
    const patch = body() as { api?: Partial<Application["api"]> };
    const knownScopes = new Set(app.api.oauth2PermissionScopes.map((s) => s.id));
    for (const pre of patch.api?.preAuthorizedApplications ?? []) {
      if (pre.delegatedPermissionIds.some((id) => !knownScopes.has(id)))
        throw new Failure(
          "ERROR: Bad Request: Property PreAuthorizedApplication references a permission that does not exist.",
        );
    }
    app.api = { ...app.api, ...patch.api };
    return undefined;
  }
  const assignedTo = /^servicePrincipals\/([^/]+)\/appRoleAssignedTo$/.exec(path);
  if (assignedTo) {
    const sp = directory.servicePrincipals.find((s) => s.id === assignedTo[1]);
    if (!sp) throw new Failure('ERROR: Not Found({"error":{"code":"Request_ResourceNotFound"}})');
    if (method === "get") {
      const all = directory.assignments.filter((a) => a.resourceId === sp.id);
      const size = directory.pageSize ?? 100;
      const next = skip + size < all.length ? `${GRAPH}/${path}?$skiptoken=${skip + size}` : undefined;
      return { value: all.slice(skip, skip + size), ...(next ? { "@odata.nextLink": next } : {}) };
    }
    if (method === "post") {
      const request = body() as Omit<AppRoleAssignment, "id">;
      if (request.resourceId !== sp.id)
        throw new Failure("ERROR: Bad Request: resourceId does not match the URL.");
      if (!application(directory, sp.appId).appRoles.some((r) => r.id === request.appRoleId))
        throw new Failure("ERROR: Bad Request: Permission being assigned was not found on application.");
      if (
        directory.assignments.some(
          (a) =>
            a.resourceId === sp.id &&
            a.principalId === request.principalId &&
            a.appRoleId === request.appRoleId,
        )
      )
        throw new Failure("ERROR: Bad Request: Permission being assigned already exists on the object.");
      const created = { id: newId(directory), ...request };
      directory.assignments.push(created);
      return created;
    }
  }
  throw new Failure(`fake az: unsupported request ${method} ${url}`, 2);
}

main();
