/**
 * The azd hooks of azure.yaml, run as azd runs them (the posix `run:` line through sh, from the
 * project folder, with the azd environment and the Bicep outputs as environment variables), with a
 * fake `az` and `azd` first on PATH: test/infra/fakeAzureCli.ts keeps a small Microsoft Entra
 * directory, answers as the real commands do and logs every call.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { root } from "../support/armTemplate.js";
import type { AppRole, Application, FakeDirectory, LoggedCall } from "./fakeAzureCli.js";

// ---------------------------------------------------------------------------------------------
// Running a hook
// ---------------------------------------------------------------------------------------------

/** The `run:` command of a hook's shell in azure.yaml. */
function hookCommand(hook: string, shell: "posix" | "windows"): string {
  const lines = readFileSync(join(root, "azure.yaml"), "utf8").split("\n");
  const hookAt = lines.indexOf(`  ${hook}:`);
  const shellAt = lines.indexOf(`    ${shell}:`, hookAt);
  const run = lines.slice(shellAt).find((l) => l.startsWith("      run: "));
  if (hookAt < 0 || shellAt < 0 || run === undefined)
    throw new Error(`azure.yaml has no ${hook}.${shell}.run`);
  return run.slice("      run: ".length);
}

let bin: string;
/** The same fake az, without azd: a deployment without azd runs the hooks by hand. */
let binWithoutAzd: string;

beforeAll(() => {
  bin = mkdtempSync(join(tmpdir(), "fake-azure-cli-"));
  // Transpiled once here: every az call starts a process, and plain JavaScript starts fastest.
  const fake = join(bin, "fakeAzureCli.mjs");
  const source = readFileSync(join(root, "test/infra/fakeAzureCli.ts"), "utf8");
  writeFileSync(
    fake,
    ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText,
  );
  binWithoutAzd = join(bin, "without-azd");
  mkdirSync(binWithoutAzd);
  for (const [dir, tool] of [
    [bin, "az"],
    [bin, "azd"],
    [binWithoutAzd, "az"],
  ] as const) {
    writeFileSync(join(dir, tool), `#!/bin/sh\nexec "${process.execPath}" "${fake}" ${tool} "$@"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
});

afterAll(() => {
  rmSync(bin, { recursive: true, force: true });
});

interface HookRun {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: LoggedCall[];
  directory: FakeDirectory;
  /** Files the hook left in its temporary folder. */
  leftovers: string[];
}

function runHook(
  hook: "preprovision" | "postprovision",
  env: Record<string, string>,
  directory: FakeDirectory,
  { withAzd = true } = {},
): HookRun {
  const dir = mkdtempSync(join(tmpdir(), "hook-run-"));
  const temp = join(dir, "tmp");
  const state = join(dir, "directory.json");
  const log = join(dir, "calls.jsonl");
  try {
    writeFileSync(state, JSON.stringify(directory));
    writeFileSync(log, "");
    mkdirSync(temp);
    const result = spawnSync("sh", ["-c", hookCommand(hook, "posix")], {
      cwd: root,
      env: {
        PATH: `${withAzd ? bin : binWithoutAzd}:${dirname(process.execPath)}:/usr/bin:/bin`,
        TMPDIR: temp,
        FAKE_AZURE_STATE: state,
        FAKE_AZURE_LOG: log,
        ...env,
      },
      encoding: "utf8",
      timeout: 50_000,
    });
    return {
      status: result.status,
      stdout: result.stdout,
      stderr: result.stderr,
      calls: readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as LoggedCall),
      directory: JSON.parse(readFileSync(state, "utf8")) as FakeDirectory,
      leftovers: readdirSync(temp),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** az calls whose arguments start with `prefix`. */
function azCalls(run: HookRun, prefix: string): LoggedCall[] {
  return run.calls.filter((c) => c.tool === "az" && `${c.args.join(" ")} `.startsWith(`${prefix} `));
}

/** Calls that change the directory or the azd environment, as command lines. */
function writes(run: HookRun): string[] {
  return run.calls
    .filter((c) => {
      if (c.tool === "azd") return true;
      const line = c.args.join(" ");
      if (/^ad (app|sp) (create|update)\b/.test(line)) return true;
      return c.args[0] === "rest" && c.args[c.args.indexOf("--method") + 1]?.toLowerCase() !== "get";
    })
    .map((c) => `${c.tool} ${c.args.join(" ")}`);
}

// ---------------------------------------------------------------------------------------------
// The directory and the environment azd hands the hooks
// ---------------------------------------------------------------------------------------------

const TENANT = "22222222-2222-2222-2222-222222222222";
const SUBSCRIPTION = "66666666-6666-6666-6666-666666666666";
const USER = "44444444-4444-4444-4444-444444444444";
const PARTNER_CENTER_CLIENT_ID = "33333333-3333-3333-3333-333333333333";
const AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const API_NAME = "referrals-export-api-contoso-prod";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function registration(
  fields: Partial<Application> & Pick<Application, "id" | "appId" | "displayName">,
): Application {
  return {
    identifierUris: [],
    appRoles: [],
    api: { requestedAccessTokenVersion: null, oauth2PermissionScopes: [], preAuthorizedApplications: [] },
    web: { redirectUris: [] },
    ...fields,
  };
}

/** A tenant with the Partner Center app registration (Step 1 of the guide) and a look-alike name. */
function tenant(): FakeDirectory {
  return {
    account: { id: SUBSCRIPTION, tenantId: TENANT },
    signedInUser: { id: USER },
    applications: [
      registration({
        id: "aaaaaaaa-0000-4000-8000-000000000001",
        appId: PARTNER_CENTER_CLIENT_ID,
        displayName: "referrals-export",
        web: {
          redirectUris: ["https://contoso.example/signin-oidc", "http://localhost"],
          implicitGrantSettings: { enableIdTokenIssuance: false },
        },
      }),
      // Found by `az ad app list --display-name` (a prefix match), but not the API's registration.
      registration({
        id: "aaaaaaaa-0000-4000-8000-000000000002",
        appId: "bbbbbbbb-0000-4000-8000-000000000002",
        displayName: `${API_NAME}-old`,
      }),
    ],
    servicePrincipals: [],
    assignments: [],
  };
}

/** What azd passes the preprovision hook. */
const AZD_ENV = {
  AZURE_ENV_NAME: "contoso-prod",
  AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
  PARTNER_CENTER_CLIENT_ID,
};

function apiApp(d: FakeDirectory): Application {
  const app = d.applications.find((a) => a.displayName === API_NAME);
  if (!app) throw new Error(`no ${API_NAME} in the directory`);
  return app;
}

function roleId(app: Application, value: string): string {
  const role = app.appRoles.find((r) => r.value === value);
  if (!role) throw new Error(`${app.displayName} has no role ${value}`);
  return role.id;
}

/** A tenant after a first `azd up`: the preprovision hook has run once. */
function provisioned(): FakeDirectory {
  const run = runHook("preprovision", AZD_ENV, tenant());
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  return run.directory;
}

// ---------------------------------------------------------------------------------------------
// preprovision
// ---------------------------------------------------------------------------------------------

describe("preprovision hook", () => {
  it("stops before any Azure call, with the setup instructions, when PARTNER_CENTER_CLIENT_ID is not set", () => {
    const run = runHook("preprovision", { ...AZD_ENV, PARTNER_CENTER_CLIENT_ID: "" }, tenant());
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      [
        "PARTNER_CENTER_CLIENT_ID is not set. Register the Partner Center app in Microsoft Entra ID",
        "(docs/deployment.md, step 1), then run:",
        "  azd env set PARTNER_CENTER_CLIENT_ID <application (client) id>",
      ].join("\n"),
    );
    expect(run.calls).toEqual([]);
  });

  it("creates the API registration with three app roles and v2.0 tokens, its service principal, Exports.Admin for you, and API_CLIENT_ID", () => {
    const run = runHook("preprovision", AZD_ENV, tenant());
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);

    const [create, ...more] = azCalls(run, "ad app create");
    expect(more).toEqual([]);
    const args = create!.args;
    const option = (name: string): string | undefined => args[args.indexOf(name) + 1];
    expect(option("--display-name")).toBe(API_NAME);
    expect(option("--sign-in-audience")).toBe("AzureADMyOrg");
    expect(option("--requested-access-token-version")).toBe("2");
    const roles = create!.files[args.indexOf("--app-roles") + 1] as AppRole[];
    expect(
      roles.map((r) => ({
        value: r.value,
        members: [...(r.allowedMemberTypes ?? [])].sort(),
        enabled: r.isEnabled,
      })),
    ).toEqual(
      ["Exports.Read", "Exports.Run", "Exports.Admin"].map((value) => ({
        value,
        members: ["Application", "User"],
        enabled: true,
      })),
    );
    for (const r of roles) {
      expect(r.id).toMatch(GUID);
      expect(r.displayName, r.value).toMatch(/\S/);
      expect(r.description, r.value).toMatch(/\S/);
    }
    expect(new Set(roles.map((r) => r.id)).size).toBe(3);

    const d = run.directory;
    const app = apiApp(d);
    expect(app.identifierUris).toEqual([`api://${app.appId}`]);
    expect(app.appRoles.map((r) => r.id)).toEqual(roles.map((r) => r.id));
    expect(app.api.requestedAccessTokenVersion).toBe(2);
    // A user token from `az login` needs a delegated scope the Azure CLI is pre-authorized for.
    const scope = app.api.oauth2PermissionScopes.find((s) => s.value === "user_impersonation");
    expect(scope).toMatchObject({ isEnabled: true, type: "Admin" });
    expect(app.api.preAuthorizedApplications).toContainEqual({
      appId: AZURE_CLI,
      delegatedPermissionIds: [scope!.id],
    });

    const sp = d.servicePrincipals.find((s) => s.appId === app.appId);
    expect(sp?.appRoleAssignmentRequired).toBe(true);
    expect(d.assignments).toEqual([
      {
        id: expect.any(String) as string,
        principalId: USER,
        resourceId: sp!.id,
        appRoleId: roleId(app, "Exports.Admin"),
      },
    ]);
    expect(d.azdEnv).toEqual({ "contoso-prod": { API_CLIENT_ID: app.appId } });

    // The look-alike registration is left alone, and the request bodies are not left on disk.
    expect(d.applications.find((a) => a.displayName === `${API_NAME}-old`)).toEqual(tenant().applications[1]);
    expect(run.leftovers).toEqual([]);
    expect(run.stdout).toContain(`api://${app.appId}/.default`);
  });

  it("finds the registration again on the next run and changes nothing: no new object, the same role ids", () => {
    const first = provisioned();
    const appId = apiApp(first).appId;

    const again = runHook("preprovision", { ...AZD_ENV, API_CLIENT_ID: appId }, first);
    expect(again.status).toBe(0);
    expect(writes(again)).toEqual([]);
    expect(again.directory).toEqual(first);

    // Without API_CLIENT_ID in the environment (a new clone, say) it is found by its name.
    const byName = runHook("preprovision", AZD_ENV, first);
    expect(byName.status).toBe(0);
    expect(writes(byName)).toEqual([`azd env set API_CLIENT_ID ${appId} --environment contoso-prod`]);
    expect(byName.directory.applications).toEqual(first.applications);
    expect(byName.directory.servicePrincipals).toEqual(first.servicePrincipals);
    expect(byName.directory.assignments).toEqual(first.assignments);
  });

  it("brings a registration made by hand up to date, keeping its role ids and its other roles", () => {
    const d = tenant();
    const readId = "cccccccc-0000-4000-8000-000000000001";
    const reportsId = "cccccccc-0000-4000-8000-000000000009";
    const handmade = registration({
      id: "cccccccc-0000-4000-8000-0000000000aa",
      appId: "cccccccc-0000-4000-8000-0000000000bb",
      displayName: API_NAME,
      identifierUris: ["https://contoso.example/referrals"],
      appRoles: [
        {
          id: readId,
          value: "Exports.Read",
          displayName: "Readers",
          allowedMemberTypes: ["User"],
          isEnabled: true,
          origin: "Application",
        },
        {
          id: reportsId,
          value: "Reports.View",
          displayName: "Reports",
          allowedMemberTypes: ["User"],
          isEnabled: true,
          origin: "Application",
        },
      ],
    });
    d.applications.push(handmade);
    d.servicePrincipals.push({
      id: "cccccccc-0000-4000-8000-0000000000cc",
      appId: handmade.appId,
      displayName: API_NAME,
      appRoleAssignmentRequired: false,
    });

    const run = runHook("preprovision", AZD_ENV, d);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(azCalls(run, "ad app create")).toEqual([]);
    expect(azCalls(run, "ad sp create")).toEqual([]);

    const app = apiApp(run.directory);
    expect(app.appId).toBe(handmade.appId);
    expect(roleId(app, "Exports.Read")).toBe(readId);
    expect(roleId(app, "Reports.View")).toBe(reportsId);
    expect(app.appRoles.map((r) => r.value)).toEqual([
      "Exports.Read",
      "Exports.Run",
      "Exports.Admin",
      "Reports.View",
    ]);
    expect(app.appRoles.find((r) => r.id === readId)?.allowedMemberTypes?.sort()).toEqual([
      "Application",
      "User",
    ]);
    expect(app.identifierUris).toEqual(["https://contoso.example/referrals", `api://${app.appId}`]);
    expect(app.api.requestedAccessTokenVersion).toBe(2);
    expect(run.directory.servicePrincipals[0]?.appRoleAssignmentRequired).toBe(true);
    expect(run.directory.assignments).toMatchObject([
      { principalId: USER, appRoleId: roleId(app, "Exports.Admin") },
    ]);
  });

  it("gives Exports.Admin to AZURE_PRINCIPAL_ID when azd names one, and finds that assignment on a later page next time", () => {
    const pipeline = "77777777-7777-7777-7777-777777777777";
    const d = tenant();
    delete d.signedInUser; // the Azure CLI signed in as a service principal
    const env = { ...AZD_ENV, AZURE_PRINCIPAL_ID: pipeline, AZURE_PRINCIPAL_TYPE: "ServicePrincipal" };
    const run = runHook("preprovision", env, d);
    expect(run.status).toBe(0);
    expect(azCalls(run, "ad signed-in-user show")).toEqual([]);
    const app = apiApp(run.directory);
    expect(run.directory.assignments).toMatchObject([
      { principalId: pipeline, appRoleId: roleId(app, "Exports.Admin") },
    ]);

    // More assignments than fit on one page of Graph's answer: the hook follows @odata.nextLink.
    const busy = run.directory;
    const sp = busy.servicePrincipals[0]!;
    busy.assignments.unshift(
      ...[1, 2, 3].map((n) => ({
        id: `dddddddd-0000-4000-8000-00000000000${n}`,
        principalId: `eeeeeeee-0000-4000-8000-00000000000${n}`,
        resourceId: sp.id,
        appRoleId: roleId(app, "Exports.Read"),
      })),
    );
    busy.pageSize = 2;
    const again = runHook("preprovision", { ...env, API_CLIENT_ID: app.appId }, busy);
    expect(again.stderr).toBe("");
    expect(again.status).toBe(0);
    expect(writes(again)).toEqual([]);
    expect(azCalls(again, "rest --method get")).toHaveLength(2);
  });

  it("run by hand without azd, prints the API_CLIENT_ID to export for the template", () => {
    const run = runHook("preprovision", AZD_ENV, tenant(), { withAzd: false });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const appId = apiApp(run.directory).appId;
    expect(run.stdout).toContain(`export API_CLIENT_ID=${appId}`);
    expect(run.directory.assignments).toHaveLength(1);
  });

  it("asks for AZURE_PRINCIPAL_ID when the Azure CLI is not signed in as a user", () => {
    const d = tenant();
    delete d.signedInUser;
    const run = runHook("preprovision", AZD_ENV, d);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("azd env set AZURE_PRINCIPAL_ID <object id>");
  });

  it("refuses to register the API in another tenant than the subscription's", () => {
    const d = tenant();
    const other = "88888888-8888-8888-8888-888888888888";
    d.subscriptions = { [other]: { tenantId: "99999999-9999-9999-9999-999999999999" } };
    const run = runHook("preprovision", { ...AZD_ENV, AZURE_SUBSCRIPTION_ID: other }, d);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("az login --tenant 99999999-9999-9999-9999-999999999999");
    expect(writes(run)).toEqual([]);
  });

  it("stops when API_CLIENT_ID names no registration, rather than creating a second one", () => {
    const run = runHook(
      "preprovision",
      { ...AZD_ENV, API_CLIENT_ID: "12345678-1234-4234-8234-123456789012" },
      tenant(),
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("no app registration with that client id exists");
    expect(writes(run)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// postprovision
// ---------------------------------------------------------------------------------------------

/** What azd passes the postprovision hook: the outputs of infra/main.bicep, and the environment. */
function outputs(d: FakeDirectory): Record<string, string> {
  const apiClientId = apiApp(d).appId;
  return {
    AZURE_ENV_NAME: "contoso-prod",
    AZURE_FUNCTION_APP_NAME: "func-abc",
    FUNCTION_APP_URL: "https://func-abc.azurewebsites.net",
    PARTNER_CENTER_CLIENT_ID,
    PARTNER_CENTER_CLOUD: "global",
    PARTNER_CENTER_CREDENTIAL: "managed-identity",
    FEDERATED_CREDENTIAL_ISSUER: `https://login.microsoftonline.com/${TENANT}/v2.0`,
    MANAGED_IDENTITY_PRINCIPAL_ID: "55555555-5555-5555-5555-555555555555",
    KEY_VAULT_URL: "https://kv-abc.vault.azure.net/",
    TOKEN_CACHE_SECRET_NAME: "partner-center-token-cache",
    AZURE_TENANT_ID: TENANT,
    EXPORT_STORAGE_ACCOUNT_URL: "https://stabc.blob.core.windows.net",
    EXPORT_CONTAINER: "referrals",
    API_CLIENT_ID: apiClientId,
    API_SCOPE: `api://${apiClientId}/.default`,
  };
}

const CALLBACK = "https://func-abc.azurewebsites.net/api/consent/callback";

function partnerCenterApp(d: FakeDirectory): Application {
  return d.applications.find((a) => a.appId === PARTNER_CENTER_CLIENT_ID)!;
}

/** The JSON of the printed `az ad app federated-credential create --parameters '…'` command. */
function federatedCredential(output: string): { audiences: string[]; issuer: string; subject: string } {
  const line = output.split("\n").find((l) => l.includes("az ad app federated-credential create"));
  if (!line) throw new Error(`no federated credential command in:\n${output}`);
  const json = /--parameters '(.*)'$/.exec(line)?.[1];
  if (json === undefined) throw new Error(`no --parameters in: ${line}`);
  return JSON.parse(json) as { audiences: string[]; issuer: string; subject: string };
}

describe("postprovision hook", () => {
  let d: FakeDirectory;
  beforeAll(() => {
    d = provisioned();
  });

  it("adds the consent callback to the Partner Center registration's Web redirect URIs, keeping the others", () => {
    const run = runHook("postprovision", outputs(d), d);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(partnerCenterApp(run.directory).web).toEqual({
      redirectUris: ["https://contoso.example/signin-oidc", "http://localhost", CALLBACK],
      implicitGrantSettings: { enableIdTokenIssuance: false },
    });
    expect(writes(run)).toEqual([
      `az ad app update --id ${PARTNER_CENTER_CLIENT_ID} --web-redirect-uris https://contoso.example/signin-oidc http://localhost ${CALLBACK} --output json`,
    ]);
    // Public client flows are not needed for the consent through the app, and are not turned on.
    expect(run.calls.flatMap((c) => c.args)).not.toContain("--is-fallback-public-client");

    // Run again: the URI is there, nothing is written.
    const again = runHook("postprovision", outputs(d), run.directory);
    expect(again.status).toBe(0);
    expect(writes(again)).toEqual([]);
    expect(partnerCenterApp(again.directory).web.redirectUris).toEqual(
      partnerCenterApp(run.directory).web.redirectUris,
    );
  });

  it("stops, saying who can add the redirect URI and how, when the signed-in user may not", () => {
    const refused = { ...d, refuse: [`ad app update --id ${PARTNER_CENTER_CLIENT_ID}`] };
    const run = runHook("postprovision", outputs(d), refused);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("Insufficient privileges");
    expect(run.stderr).toContain(
      `az ad app update --id ${PARTNER_CENTER_CLIENT_ID} --web-redirect-uris https://contoso.example/signin-oidc http://localhost ${CALLBACK}`,
    );
    expect(run.stderr).toContain("azd hooks run postprovision");
    expect(partnerCenterApp(run.directory).web.redirectUris).toEqual(partnerCenterApp(d).web.redirectUris);
  });

  it("prints the consent through the app first, then device code with its trade-off, then the first export", () => {
    const { stdout, status } = runHook("postprovision", outputs(d), d);
    expect(status).toBe(0);
    const consent = stdout.indexOf("npx referrals-export remote consent");
    const deviceCode = stdout.indexOf("npx referrals-export auth login --device-code");
    const firstExport = stdout.indexOf("npx referrals-export remote export --profile all-referrals --wait");
    expect(consent).toBeGreaterThan(0);
    expect(deviceCode).toBeGreaterThan(consent);
    expect(firstExport).toBeGreaterThan(deviceCode);
    expect(stdout).toContain("REFERRALS_EXPORT_API_URL=https://func-abc.azurewebsites.net \\");
    expect(stdout).toContain(`REFERRALS_EXPORT_API_SCOPE=api://${apiApp(d).appId}/.default \\`);
    // The device code's trade-off, in words an admin reads before choosing it.
    expect(stdout).toContain("Allow public client flows");
    expect(stdout).toContain("redeemed with the client id alone");
    expect(stdout).toContain(`KEY_VAULT_URL=https://kv-abc.vault.azure.net/ \\`);
    expect(stdout).not.toContain("Warning");
  });

  it("prints a role assignment command with this API's service principal and role ids", () => {
    const { stdout } = runHook("postprovision", outputs(d), d);
    const app = apiApp(d);
    const sp = d.servicePrincipals.find((s) => s.appId === app.appId)!;
    const line = stdout.split("\n").find((l) => l.includes("az rest --method POST"));
    expect(line).toContain(
      `--url https://graph.microsoft.com/v1.0/servicePrincipals/${sp.id}/appRoleAssignedTo`,
    );
    const body = JSON.parse(/--body '(.*)'$/.exec(line ?? "")?.[1] ?? "null") as Record<string, string>;
    expect(body).toEqual({
      principalId: "<object id of the user, group or service principal>",
      resourceId: sp.id,
      appRoleId: roleId(app, "Exports.Run"),
    });
    for (const value of ["Exports.Read", "Exports.Run", "Exports.Admin"])
      expect(stdout).toContain(`${value} ${roleId(app, value)}`);
  });

  it("warns when the app was provisioned without the API's client id", () => {
    const { stdout, status } = runHook("postprovision", { ...outputs(d), API_SCOPE: "" }, d);
    expect(status).toBe(0);
    expect(stdout).toContain("Warning: the function app was provisioned without API_CLIENT_ID");
    expect(stdout).toContain("Run `azd provision` again");
  });

  it("prints the federated credential with the global token exchange audience", () => {
    const credential = federatedCredential(runHook("postprovision", outputs(d), d).stdout);
    expect(credential).toEqual({
      name: "referrals-export-contoso-prod",
      issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
      subject: "55555555-5555-5555-5555-555555555555",
      audiences: ["api://AzureADTokenExchange"],
    });
  });

  it("prints the US Government audience when PARTNER_CENTER_CLOUD is usgov", () => {
    const run = runHook(
      "postprovision",
      {
        ...outputs(d),
        PARTNER_CENTER_CLOUD: "usgov",
        FEDERATED_CREDENTIAL_ISSUER: `https://login.microsoftonline.us/${TENANT}/v2.0`,
      },
      d,
    );
    expect(federatedCredential(run.stdout)).toMatchObject({
      issuer: `https://login.microsoftonline.us/${TENANT}/v2.0`,
      audiences: ["api://AzureADTokenExchangeUSGov"],
    });
  });

  it("prints no federated credential for a client secret or certificate", () => {
    for (const credential of ["secret", "certificate"]) {
      const { stdout, status } = runHook(
        "postprovision",
        { ...outputs(d), PARTNER_CENTER_CREDENTIAL: credential },
        d,
      );
      expect(status).toBe(0);
      expect(stdout).not.toContain("federated-credential");
      expect(stdout).toContain("npx referrals-export remote consent");
    }
  });
});

describe("azure.yaml hooks", () => {
  it("run the same Node.js scripts in sh and in pwsh", () => {
    for (const hook of ["preprovision", "postprovision"]) {
      expect(hookCommand(hook, "posix")).toBe(`node scripts/hooks/${hook}.mjs`);
      expect(hookCommand(hook, "windows")).toBe(`node scripts/hooks/${hook}.mjs`);
    }
  });
});
