/**
 * The azd hooks in azure.yaml, run: the posix postprovision snippet goes through sh with the
 * environment azd gives it (the Bicep outputs), and what it prints is what the admin copies.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { root } from "../support/armTemplate.js";

/** The `run: |` block of a hook's shell (posix or windows), as azd hands it to that shell. */
function hookScript(hook: string, shell: "posix" | "windows"): string {
  const lines = readFileSync(join(root, "azure.yaml"), "utf8").split("\n");
  const hookAt = lines.indexOf(`  ${hook}:`);
  const shellAt = lines.indexOf(`    ${shell}:`, hookAt);
  const runAt = lines.indexOf("      run: |", shellAt);
  if (hookAt < 0 || shellAt < 0 || runAt < 0) throw new Error(`azure.yaml has no ${hook}.${shell}.run block`);
  const body: string[] = [];
  for (const line of lines.slice(runAt + 1)) {
    if (line.trim() !== "" && !line.startsWith("        ")) break;
    body.push(line.slice(8));
  }
  return body.join("\n");
}

/** What azd passes the hook: the outputs of infra/main.bicep, and the environment's name. */
const OUTPUTS = {
  AZURE_ENV_NAME: "contoso-prod",
  AZURE_FUNCTION_APP_NAME: "func-abc",
  FUNCTION_APP_URL: "https://func-abc.azurewebsites.net",
  PARTNER_CENTER_CLIENT_ID: "33333333-3333-3333-3333-333333333333",
  PARTNER_CENTER_CREDENTIAL: "managed-identity",
  FEDERATED_CREDENTIAL_ISSUER: "https://login.microsoftonline.com/22222222-2222-2222-2222-222222222222/v2.0",
  MANAGED_IDENTITY_PRINCIPAL_ID: "55555555-5555-5555-5555-555555555555",
  KEY_VAULT_URL: "https://kv-abc.vault.azure.net/",
  TOKEN_CACHE_SECRET_NAME: "partner-center-token-cache",
  AZURE_TENANT_ID: "22222222-2222-2222-2222-222222222222",
  EXPORT_STORAGE_ACCOUNT_URL: "https://stabc.blob.core.windows.net",
  EXPORT_CONTAINER: "referrals",
};

function postprovision(env: Record<string, string>): string {
  return execFileSync("sh", ["-c", hookScript("postprovision", "posix")], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    encoding: "utf8",
  });
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
  it("prints the federated credential with the global token exchange audience", () => {
    const credential = federatedCredential(postprovision({ ...OUTPUTS, PARTNER_CENTER_CLOUD: "global" }));
    expect(credential).toEqual({
      name: "referrals-export-contoso-prod",
      issuer: OUTPUTS.FEDERATED_CREDENTIAL_ISSUER,
      subject: OUTPUTS.MANAGED_IDENTITY_PRINCIPAL_ID,
      audiences: ["api://AzureADTokenExchange"],
    });
  });

  it("prints the US Government audience when PARTNER_CENTER_CLOUD is usgov", () => {
    const output = postprovision({
      ...OUTPUTS,
      PARTNER_CENTER_CLOUD: "usgov",
      FEDERATED_CREDENTIAL_ISSUER:
        "https://login.microsoftonline.us/22222222-2222-2222-2222-222222222222/v2.0",
    });
    expect(federatedCredential(output)).toMatchObject({
      issuer: "https://login.microsoftonline.us/22222222-2222-2222-2222-222222222222/v2.0",
      audiences: ["api://AzureADTokenExchangeUSGov"],
    });
  });

  it("prints no federated credential for a client secret or certificate, and the auth login command always", () => {
    for (const credential of ["secret", "certificate"]) {
      const output = postprovision({
        ...OUTPUTS,
        PARTNER_CENTER_CLOUD: "global",
        PARTNER_CENTER_CREDENTIAL: credential,
      });
      expect(output).not.toContain("federated-credential");
      expect(output).toContain("npx referrals-export auth login --device-code");
    }
  });

  it("switches the audience on the cloud in the Windows (pwsh) hook too", () => {
    const script = hookScript("postprovision", "windows");
    expect(script).toMatch(
      /\$audience = if \(\$env:PARTNER_CENTER_CLOUD -eq "usgov"\) \{ "api:\/\/AzureADTokenExchangeUSGov" \} else \{ "api:\/\/AzureADTokenExchange" \}/,
    );
    expect(script).toContain("audiences = @($audience)");
  });
});
