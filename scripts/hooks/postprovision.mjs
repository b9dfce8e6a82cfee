// azd postprovision hook (azure.yaml): azd passes the Bicep outputs as environment variables.
// Adds the app's consent callback, https://<function app host>/api/consent/callback, to the Partner
// Center app registration's Web redirect URIs (keeping every URI it has), then prints the next
// steps with this environment's values: the federated credential (managed identity only), the
// consent through the app, the device-code alternative, and how to give more people and apps a role.
import console from "node:console";
import process from "node:process";
import { az, fail, graphBaseUrl, runHook, setting } from "./azureCli.mjs";

/**
 * @typedef {{ appId: string, web?: { redirectUris?: string[] } | null }} Application
 * @typedef {{ id: string, displayName?: string, appRoles?: { id: string, value: string }[] }} ServicePrincipal
 */

const windows = process.platform === "win32";

runHook(() => {
  const appUrl = (
    setting("FUNCTION_APP_URL") ??
    fail("FUNCTION_APP_URL is not set: run this hook through azd after provisioning.")
  ).replace(/\/+$/, "");
  const partnerCenterClientId =
    setting("PARTNER_CENTER_CLIENT_ID") ?? fail("PARTNER_CENTER_CLIENT_ID is not set.");
  const apiClientId = setting("API_CLIENT_ID");
  const apiScope = setting("API_SCOPE");

  console.log("");
  console.log(`Provisioned function app ${setting("AZURE_FUNCTION_APP_NAME") ?? ""} (${appUrl}).`);
  addConsentRedirectUri(partnerCenterClientId, `${appUrl}/api/consent/callback`);

  const expectedScope = apiClientId && `${setting("API_AUDIENCE") ?? `api://${apiClientId}`}/.default`;
  if (!apiClientId || apiScope !== expectedScope) {
    console.log("");
    console.log(
      `Warning: the function app was provisioned ${apiScope ? `for the API scope ${apiScope}` : "without API_CLIENT_ID"}, ` +
        `but the azd environment names ${apiClientId ? `the API registration ${apiClientId}` : "none"}: the HTTP API refuses every call until both agree.`,
    );
    console.log(
      "Run `azd provision` again (the preprovision hook sets API_CLIENT_ID before the template reads it).",
    );
  }

  printFederatedCredential(partnerCenterClientId);
  printConsent(appUrl, apiScope);
  if (apiClientId) printRoleAssignment(apiClientId);
});

/**
 * The app redeems the consent's authorization code as the confidential client (the Partner Center
 * app registration), so the callback is a Web redirect URI; public client flows can stay off.
 * @param {string} clientId
 * @param {string} callback
 */
function addConsentRedirectUri(clientId, callback) {
  const [app] = /** @type {Application[]} */ (az(["ad", "app", "list", "--app-id", clientId]) ?? []);
  if (!app)
    fail(
      `PARTNER_CENTER_CLIENT_ID is ${clientId}, but no app registration with that client id exists in the tenant the Azure CLI is signed in to.`,
    );
  const uris = app.web?.redirectUris ?? [];
  if (uris.includes(callback)) {
    console.log(`The Partner Center app registration already redirects the consent to ${callback}.`);
    return;
  }
  console.log(
    `Adding the Web redirect URI ${callback} to the Partner Center app registration ${clientId} ...`,
  );
  az(
    ["ad", "app", "update", "--id", clientId, "--web-redirect-uris", ...uris, callback],
    [
      "Adding a redirect URI needs ownership of the Partner Center app registration, or Application Administrator or",
      "Cloud Application Administrator in Microsoft Entra ID. Someone who has it can add it in the Entra admin center",
      `(App registrations > the app > Authentication > Add a platform > Web > ${callback}), or run:`,
      `  az ad app update --id ${clientId} --web-redirect-uris ${[...uris, callback].join(" ")}`,
      "then run this hook again: azd hooks run postprovision",
    ].join("\n"),
  );
}

/** @param {string} clientId */
function printFederatedCredential(clientId) {
  if (setting("PARTNER_CENTER_CREDENTIAL") !== "managed-identity") return;
  // The app asks its identity for a token with the token exchange audience of its cloud.
  const audience =
    setting("PARTNER_CENTER_CLOUD") === "usgov"
      ? "api://AzureADTokenExchangeUSGov"
      : "api://AzureADTokenExchange";
  const credential = {
    name: `referrals-export-${setting("AZURE_ENV_NAME") ?? ""}`,
    issuer: setting("FEDERATED_CREDENTIAL_ISSUER") ?? "",
    subject: setting("MANAGED_IDENTITY_PRINCIPAL_ID") ?? "",
    audiences: [audience],
  };
  console.log("");
  console.log(
    "If not done yet, let the app's managed identity act for the Partner Center app registration (once):",
  );
  console.log(
    `  az ad app federated-credential create --id ${clientId} --parameters '${JSON.stringify(credential)}'`,
  );
}

/**
 * @param {string} appUrl
 * @param {string | undefined} apiScope
 */
function printConsent(appUrl, apiScope) {
  const remote = {
    REFERRALS_EXPORT_API_URL: appUrl,
    ...(apiScope ? { REFERRALS_EXPORT_API_SCOPE: apiScope } : {}),
  };
  const deviceCode = {
    KEY_VAULT_URL: setting("KEY_VAULT_URL") ?? "",
    TOKEN_CACHE_SECRET_NAME: setting("TOKEN_CACHE_SECRET_NAME") ?? "",
    AZURE_TENANT_ID: setting("AZURE_TENANT_ID") ?? "",
    PARTNER_CENTER_CLIENT_ID: setting("PARTNER_CENTER_CLIENT_ID") ?? "",
    PARTNER_CENTER_CLOUD: setting("PARTNER_CENTER_CLOUD") ?? "",
    EXPORT_STORAGE_ACCOUNT_URL: setting("EXPORT_STORAGE_ACCOUNT_URL") ?? "",
    EXPORT_CONTAINER: setting("EXPORT_CONTAINER") ?? "",
  };
  print(
    "",
    "Next, consent once through the app (recommended). It opens a one-time Microsoft Entra sign-in page in your",
    "browser: sign in as a Partner Center user (with MFA), and the app redeems the answer itself, as the",
    "confidential client. It needs the Exports.Admin role, which the preprovision hook gave you:",
    "  npm run build",
    command(remote, "npx referrals-export remote consent --open"),
    "",
    "Headless alternative, from a machine without a browser: device code sign-in. It is a public client flow:",
    'turn on "Allow public client flows" on the Partner Center app registration first, and know that its refresh',
    "token can then be redeemed with the client id alone (no app credential), by anyone who obtains it:",
    command(deviceCode, "npx referrals-export auth login --device-code"),
    "",
    "Then the first export (your az login is the credential):",
    command(remote, "npx referrals-export remote export --profile all-referrals --wait"),
  );
}

/** @param {string[]} lines */
function print(...lines) {
  for (const line of lines) console.log(line);
}

/**
 * A command with environment variables, for the shell the hook runs in.
 * @param {Record<string, string>} variables
 * @param {string} line
 */
function command(variables, line) {
  const entries = Object.entries(variables);
  if (windows)
    return [...entries.map(([name, value]) => `  $env:${name}='${value}'`), `  ${line}`].join("\n");
  return [...entries.map(([name, value]) => `  ${name}=${value} \\`), `  ${line}`].join("\n");
}

/**
 * How to give more users, groups and apps (a Data Factory's managed identity, say) a role: the
 * API's service principal and role ids are looked up, so the command can be pasted as it is.
 * @param {string} apiClientId
 */
function printRoleAssignment(apiClientId) {
  const [servicePrincipal] = /** @type {ServicePrincipal[]} */ (
    az(["ad", "sp", "list", "--filter", `appId eq '${apiClientId}'`]) ?? []
  );
  if (!servicePrincipal) return;
  const graph = graphBaseUrl();
  const roleId = (/** @type {string} */ value) =>
    servicePrincipal.appRoles?.find((r) => r.value === value)?.id ?? `<${value} role id>`;
  const body = {
    principalId: "<object id of the user, group or service principal>",
    resourceId: servicePrincipal.id,
    appRoleId: roleId("Exports.Run"),
  };
  print(
    "",
    `To let more people or apps call the API, give each one a role on the enterprise application ${servicePrincipal.displayName ?? apiClientId}`,
    `(Exports.Read ${roleId("Exports.Read")}, Exports.Run ${roleId("Exports.Run")}, Exports.Admin ${roleId("Exports.Admin")}),`,
    'for a user, a group or an app\'s service principal (docs/deployment.md, "Who may call the API"):',
    `  az rest --method POST --url ${graph}/servicePrincipals/${servicePrincipal.id}/appRoleAssignedTo --body '${JSON.stringify(body)}'`,
  );
}
