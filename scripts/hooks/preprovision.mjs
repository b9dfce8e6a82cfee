// azd preprovision hook (azure.yaml): before Bicep runs, make sure the Partner Center app
// registration is named, then create or update the HTTP API's own app registration and hand its
// client id to the template (`azd env set API_CLIENT_ID`, read by infra/main.bicepparam).
//
// The API's registration is found again on every run (by API_CLIENT_ID once set, else by its
// display name, referrals-export-api-<environment>), so running the hook twice changes nothing:
// - identifier URI api://<client id>, v2.0 access tokens (api.requestedAccessTokenVersion = 2);
// - app roles Exports.Read, Exports.Run, Exports.Admin for users and applications, their ids kept
//   once created (assignments refer to them);
// - a delegated scope, user_impersonation, pre-authorized for the Azure CLI and Azure PowerShell,
//   so `az login` (and DefaultAzureCredential) can get a user token for the API without a consent
//   prompt; what the user may do is still decided by their app role;
// - a service principal with appRoleAssignmentRequired, so only assigned users, groups and apps get
//   a token at all;
// - Exports.Admin for the person deploying (AZURE_PRINCIPAL_ID, else the Azure CLI's signed-in user).
import console from "node:console";
import { randomUUID } from "node:crypto";
import {
  az,
  azWithRetries,
  azd,
  fail,
  graphBaseUrl,
  jsonFileArgument,
  runHook,
  setting,
} from "./azureCli.mjs";

/**
 * @typedef {{ id: string, value: string, displayName?: string, description?: string,
 *   isEnabled?: boolean, allowedMemberTypes?: string[], origin?: string }} AppRole
 * @typedef {{ id: string, value: string, type?: string, isEnabled?: boolean,
 *   adminConsentDisplayName?: string, adminConsentDescription?: string,
 *   userConsentDisplayName?: string, userConsentDescription?: string }} PermissionScope
 * @typedef {{ appId: string, delegatedPermissionIds?: string[] }} PreAuthorizedApplication
 * @typedef {{ requestedAccessTokenVersion?: number | null, oauth2PermissionScopes?: PermissionScope[],
 *   preAuthorizedApplications?: PreAuthorizedApplication[] }} ApiApplication
 * @typedef {{ id: string, appId: string, displayName: string, identifierUris?: string[],
 *   appRoles?: AppRole[], api?: ApiApplication | null }} Application
 * @typedef {{ id: string, appId: string, appRoleAssignmentRequired?: boolean }} ServicePrincipal
 * @typedef {{ principalId: string, appRoleId: string }} AppRoleAssignment
 */

/** The API's app roles; the app reads them from the token's `roles` claim. */
const APP_ROLES = [
  {
    value: "Exports.Read",
    displayName: "Read exports",
    description: "Read run status, run lists, read links and health of the referrals-export API.",
  },
  {
    value: "Exports.Run",
    displayName: "Run exports",
    description: "Start exports through the referrals-export API, and everything Exports.Read allows.",
  },
  {
    value: "Exports.Admin",
    displayName: "Administer exports",
    description:
      "Force runs and start the Partner Center consent through the referrals-export API, and everything Exports.Run allows.",
  },
];
const ADMIN_ROLE = "Exports.Admin";
const MEMBER_TYPES = ["Application", "User"];

const SCOPE = {
  value: "user_impersonation",
  type: "Admin",
  adminConsentDisplayName: "Call referrals-export as the signed-in user",
  adminConsentDescription:
    "Lets the application call the referrals-export API as the signed-in user. What the user may do depends on the Exports app role they hold.",
  userConsentDisplayName: "Call referrals-export as you",
  userConsentDescription:
    "Lets the application call the referrals-export API as you, with the Exports app role you hold.",
};

/** First-party clients whose user tokens the API accepts without a consent prompt. */
const PRE_AUTHORIZED_CLIENTS = [
  "04b07795-8ddb-461a-bbee-02f9e1bf7b46", // Microsoft Azure CLI (also used by azd)
  "1950a258-227b-4e31-a9cf-717495945fc2", // Microsoft Azure PowerShell
];

/** Waits between tries of a call that needs a just-created object (Entra ID replicates for a while). */
const REPLICATION_DELAYS_MS = [5_000, 10_000, 20_000, 30_000];

const ENTRA_ROLE_HINT =
  "Creating and updating app registrations and assigning their roles needs Application Administrator or Cloud Application Administrator in Microsoft Entra ID (or ownership of the registration).";

runHook(() => {
  // The Partner Center app registration's client id is the one value azd cannot invent: stop early without it.
  if (!setting("PARTNER_CENTER_CLIENT_ID"))
    fail(
      [
        "PARTNER_CENTER_CLIENT_ID is not set. Register the Partner Center app in Microsoft Entra ID",
        "(docs/deployment.md, step 1), then run:",
        "  azd env set PARTNER_CENTER_CLIENT_ID <application (client) id>",
      ].join("\n"),
    );
  const environmentName =
    setting("AZURE_ENV_NAME") ?? fail("AZURE_ENV_NAME is not set: run this hook through azd.");

  checkTenant();
  const graph = graphBaseUrl();
  // One registration per azd environment, found again by this name on every run.
  const displayName = `referrals-export-api-${environmentName}`;

  let app = findApiRegistration(displayName);
  if (app) {
    console.log(`API app registration ${app.displayName} (${app.appId}) found.`);
  } else {
    app = createApiRegistration(displayName);
  }
  const roleIds = ensureAppRoles(app);
  ensureIdentifierUri(app);
  ensureApi(graph, app);
  const servicePrincipal = ensureServicePrincipal(app.appId);
  ensureAdminAssignment(graph, servicePrincipal, roleIds.get(ADMIN_ROLE) ?? fail(`${ADMIN_ROLE} has no id`));

  if (setting("API_CLIENT_ID") !== app.appId) {
    if (azd(["env", "set", "API_CLIENT_ID", app.appId, "--environment", environmentName])) {
      console.log(`API_CLIENT_ID=${app.appId} set in the azd environment ${environmentName}.`);
    } else {
      console.log(
        `azd is not installed: export API_CLIENT_ID=${app.appId} before deploying infra/main.bicepparam.`,
      );
    }
  }
  console.log(`The HTTP API accepts tokens for api://${app.appId}/.default.`);
});

/**
 * The app registration has to live in the tenant of the subscription azd deploys to (the app
 * validates tokens of that tenant), and `az ad` acts in the tenant the Azure CLI is signed in to.
 */
function checkTenant() {
  const account = /** @type {{ id: string, tenantId: string } | null} */ (
    az(["account", "show"], "Sign in to the Azure CLI first: az login --tenant <partner tenant id>")
  );
  if (!account) return fail("az account show printed nothing.");
  const subscriptionId = setting("AZURE_SUBSCRIPTION_ID");
  if (subscriptionId === undefined || subscriptionId === account.id) return;
  const subscription = /** @type {{ tenantId: string } | null} */ (
    az(
      ["account", "show", "--subscription", subscriptionId],
      `The Azure CLI does not see subscription ${subscriptionId}, the one azd deploys to: az login --tenant <its tenant id>`,
    )
  );
  if (subscription && subscription.tenantId !== account.tenantId)
    fail(
      `The Azure CLI is signed in to tenant ${account.tenantId}, but subscription ${subscriptionId} belongs to tenant ${subscription.tenantId}.\n` +
        `The API's app registration must be created in the subscription's tenant: az login --tenant ${subscription.tenantId}`,
    );
}

/**
 * The registration named by API_CLIENT_ID, else the one with this exact display name.
 * @param {string} displayName
 * @returns {Application | undefined}
 */
function findApiRegistration(displayName) {
  const clientId = setting("API_CLIENT_ID");
  if (clientId !== undefined) {
    const [app] = /** @type {Application[]} */ (az(["ad", "app", "list", "--app-id", clientId]) ?? []);
    if (!app)
      fail(
        `API_CLIENT_ID is ${clientId}, but no app registration with that client id exists in this tenant.\n` +
          "Set it to the API's registration, or clear it (azd env set API_CLIENT_ID '') to let this hook create one.",
      );
    return app;
  }
  // --display-name matches the start of the name: keep exact matches only.
  const apps = /** @type {Application[]} */ (
    az(["ad", "app", "list", "--display-name", displayName]) ?? []
  ).filter((a) => a.displayName === displayName);
  if (apps.length > 1)
    fail(
      `${apps.length} app registrations are named ${displayName} (${apps.map((a) => a.appId).join(", ")}).\n` +
        "Pick the API's one: azd env set API_CLIENT_ID <its application (client) id>",
    );
  return apps[0];
}

/**
 * @param {string} displayName
 * @returns {Application}
 */
function createApiRegistration(displayName) {
  console.log(`Creating the API app registration ${displayName} ...`);
  const { roles } = desiredAppRoles([]);
  const app = /** @type {Application | null} */ (
    az(
      [
        "ad",
        "app",
        "create",
        "--display-name",
        displayName,
        "--sign-in-audience",
        "AzureADMyOrg",
        "--requested-access-token-version",
        "2",
        "--app-roles",
        jsonFileArgument("app-roles.json", roles),
      ],
      ENTRA_ROLE_HINT,
    )
  );
  if (!app?.appId) return fail("az ad app create printed no application.");
  console.log(`Created ${displayName}: application (client) id ${app.appId}.`);
  return app;
}

/**
 * The three roles with the ids they already have (new ids only for missing ones), followed by every
 * other role of the registration, unchanged.
 * @param {readonly AppRole[]} existing
 */
function desiredAppRoles(existing) {
  let changed = false;
  const managed = APP_ROLES.map((role) => {
    const current = existing.find((r) => r.value === role.value);
    const wanted = { ...role, allowedMemberTypes: MEMBER_TYPES, isEnabled: true };
    if (
      !current ||
      current.displayName !== wanted.displayName ||
      current.description !== wanted.description ||
      current.isEnabled !== true ||
      [...(current.allowedMemberTypes ?? [])].sort().join() !== MEMBER_TYPES.join()
    )
      changed = true;
    /** @type {AppRole} */
    const desired = { ...wanted, id: current?.id ?? randomUUID() };
    return desired;
  });
  const others = existing.filter((r) => !APP_ROLES.some((role) => role.value === r.value));
  // `origin` is read-only in Microsoft Graph: sending it back is refused.
  const roles = [...managed, ...others].map(({ origin: _origin, ...role }) => role);
  return { roles, changed, ids: new Map(managed.map((r) => [r.value, r.id])) };
}

/**
 * @param {Application} app
 * @returns {Map<string, string>} role value to id
 */
function ensureAppRoles(app) {
  const { roles, changed, ids } = desiredAppRoles(app.appRoles ?? []);
  if (changed) {
    console.log(`Updating the app roles of ${app.displayName} (existing role ids are kept) ...`);
    az(
      ["ad", "app", "update", "--id", app.appId, "--app-roles", jsonFileArgument("app-roles.json", roles)],
      ENTRA_ROLE_HINT,
    );
  }
  return ids;
}

/** @param {Application} app */
function ensureIdentifierUri(app) {
  const uri = `api://${app.appId}`;
  const uris = app.identifierUris ?? [];
  if (uris.includes(uri)) return;
  console.log(`Setting the identifier URI ${uri} ...`);
  az(["ad", "app", "update", "--id", app.appId, "--identifier-uris", ...uris, uri], ENTRA_ROLE_HINT);
}

/**
 * v2.0 access tokens, the user_impersonation scope and its pre-authorized clients. `az ad app`
 * has no option for scopes, so this is a Microsoft Graph PATCH of `api`; every PATCH carries
 * requestedAccessTokenVersion too, so the token version never depends on how Graph merges `api`.
 * @param {string} graph
 * @param {Application} app
 */
function ensureApi(graph, app) {
  const api = app.api ?? {};
  const scopes = api.oauth2PermissionScopes ?? [];
  const current = scopes.find((s) => s.value === SCOPE.value);
  const scope = { ...SCOPE, isEnabled: true, id: current?.id ?? randomUUID() };
  const scopeChanged =
    !current ||
    current.isEnabled !== true ||
    Object.entries(SCOPE).some(
      ([key, value]) => /** @type {Record<string, unknown>} */ (current)[key] !== value,
    );
  const desiredScopes = [scope, ...scopes.filter((s) => s.value !== SCOPE.value)];

  const preAuthorized = [...(api.preAuthorizedApplications ?? [])];
  let preAuthorizedChanged = false;
  for (const clientId of PRE_AUTHORIZED_CLIENTS) {
    const at = preAuthorized.findIndex((p) => p.appId === clientId);
    const entry = preAuthorized[at];
    if (!entry) {
      preAuthorized.push({ appId: clientId, delegatedPermissionIds: [scope.id] });
      preAuthorizedChanged = true;
    } else if (!(entry.delegatedPermissionIds ?? []).includes(scope.id)) {
      preAuthorized[at] = {
        appId: clientId,
        delegatedPermissionIds: [...(entry.delegatedPermissionIds ?? []), scope.id],
      };
      preAuthorizedChanged = true;
    }
  }

  if (!scopeChanged && !preAuthorizedChanged && api.requestedAccessTokenVersion === 2) return;
  const url = `${graph}/applications/${app.id}`;
  const patch = (/** @type {string} */ name, /** @type {ApiApplication} */ body) =>
    az(
      [
        "rest",
        "--method",
        "patch",
        "--url",
        url,
        "--headers",
        "Content-Type=application/json",
        "--body",
        jsonFileArgument(name, { api: body }),
      ],
      ENTRA_ROLE_HINT,
    );
  console.log(`Setting v2.0 access tokens, the ${SCOPE.value} scope and its pre-authorized clients ...`);
  if (!current) {
    // A pre-authorization may only name a scope the registration already has.
    patch("api-scope.json", { requestedAccessTokenVersion: 2, oauth2PermissionScopes: desiredScopes });
  }
  patch("api.json", {
    requestedAccessTokenVersion: 2,
    oauth2PermissionScopes: desiredScopes,
    preAuthorizedApplications: preAuthorized,
  });
}

/**
 * @param {string} appId
 * @returns {ServicePrincipal}
 */
function ensureServicePrincipal(appId) {
  let [servicePrincipal] = /** @type {ServicePrincipal[]} */ (
    az(["ad", "sp", "list", "--filter", `appId eq '${appId}'`]) ?? []
  );
  if (!servicePrincipal) {
    console.log("Creating the API's service principal (enterprise application) ...");
    servicePrincipal =
      /** @type {ServicePrincipal | null} */ (
        azWithRetries(["ad", "sp", "create", "--id", appId], REPLICATION_DELAYS_MS, ENTRA_ROLE_HINT)
      ) ?? fail("az ad sp create printed no service principal.");
  }
  if (servicePrincipal.appRoleAssignmentRequired !== true) {
    console.log("Requiring an app role assignment for every caller of the API ...");
    az(
      ["ad", "sp", "update", "--id", servicePrincipal.id, "--set", "appRoleAssignmentRequired=true"],
      ENTRA_ROLE_HINT,
    );
  }
  return servicePrincipal;
}

/**
 * Exports.Admin for whoever deploys, so they can run the consent and the first export.
 * @param {string} graph
 * @param {ServicePrincipal} servicePrincipal
 * @param {string} adminRoleId
 */
function ensureAdminAssignment(graph, servicePrincipal, adminRoleId) {
  const principalId = setting("AZURE_PRINCIPAL_ID") ?? signedInUserId();
  const url = `${graph}/servicePrincipals/${servicePrincipal.id}/appRoleAssignedTo`;
  if (assignments(url).some((a) => a.principalId === principalId && a.appRoleId === adminRoleId)) {
    console.log(`${ADMIN_ROLE} is assigned to ${principalId}.`);
    return;
  }
  console.log(`Assigning ${ADMIN_ROLE} to ${principalId} ...`);
  azWithRetries(
    [
      "rest",
      "--method",
      "post",
      "--url",
      url,
      "--headers",
      "Content-Type=application/json",
      "--body",
      jsonFileArgument("assignment.json", {
        principalId,
        resourceId: servicePrincipal.id,
        appRoleId: adminRoleId,
      }),
    ],
    REPLICATION_DELAYS_MS,
    ENTRA_ROLE_HINT,
  );
}

/** @returns {string} */
function signedInUserId() {
  const user = /** @type {{ id?: string } | null} */ (
    az(
      ["ad", "signed-in-user", "show"],
      "The Azure CLI is not signed in as a user (a service principal?): set the object id of who should administer the API with azd env set AZURE_PRINCIPAL_ID <object id>.",
    )
  );
  return user?.id ?? fail("az ad signed-in-user show printed no object id.");
}

/**
 * Every assignment of the API's roles, following Microsoft Graph's pages (a bounded number).
 * @param {string} url
 * @returns {AppRoleAssignment[]}
 */
function assignments(url) {
  /** @type {AppRoleAssignment[]} */
  const found = [];
  /** @type {string | undefined} */
  let next = url;
  for (let page = 0; next !== undefined && page < 100; page++) {
    const body = /** @type {{ value?: AppRoleAssignment[], "@odata.nextLink"?: string } | null} */ (
      az(["rest", "--method", "get", "--url", next])
    );
    found.push(...(body?.value ?? []));
    next = body?.["@odata.nextLink"];
  }
  return found;
}
