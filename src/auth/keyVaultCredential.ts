import type { TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";

export interface KeyVaultCredentialOptions {
  /** LOCAL_MODE: authenticate against the simulator named by `authorityHost` / AZURE_AUTHORITY_HOST. */
  readonly localMode?: boolean;
  /** Entra origin for EnvironmentCredential in local mode (defaults to AZURE_AUTHORITY_HOST). */
  readonly authorityHost?: string;
  /** User-assigned managed identity (AZURE_CLIENT_ID in Azure). */
  readonly managedIdentityClientId?: string;
}

/**
 * The identity that reads and writes the token cache and app credential in Key Vault:
 * DefaultAzureCredential. In Azure it resolves to the Function app's managed identity. In local mode
 * it resolves through EnvironmentCredential (AZURE_CLIENT_ID / AZURE_CLIENT_SECRET / AZURE_TENANT_ID,
 * AZURE_AUTHORITY_HOST = the simulator); instance discovery is switched off there, because MSAL would
 * otherwise ask login.microsoftonline.com to vouch for the loopback authority and refuse it.
 */
export function createKeyVaultCredential(options: KeyVaultCredentialOptions = {}): TokenCredential {
  return new DefaultAzureCredential({
    ...(options.managedIdentityClientId === undefined
      ? {}
      : { managedIdentityClientId: options.managedIdentityClientId }),
    ...(options.localMode === true
      ? {
          disableInstanceDiscovery: true,
          ...(options.authorityHost === undefined ? {} : { authorityHost: options.authorityHost }),
        }
      : {}),
  });
}
