import type { TokenCredential } from "@azure/core-auth";
import { ManagedIdentityCredential } from "@azure/identity";
import type { SecretClient } from "@azure/keyvault-secrets";
import {
  ConfidentialClientApplication,
  PublicClientApplication,
  type Configuration,
  type ICachePlugin,
  type NodeAuthOptions,
} from "@azure/msal-node";
import { parseCertificateBundle } from "./certificate.js";
import { currentOperation } from "./context.js";
import { AuthError } from "./errors.js";
import { createSecretClient, readSecret } from "./keyVaultStore.js";
import { consoleAuthLogger, msalLoggerOptions, scopedLogger, type AuthLogger } from "./logging.js";
import { MsalNetworkClient } from "./networkClient.js";
import {
  authorityFor,
  resolveRetry,
  tokenExchangeScope,
  validateAuthOptions,
  type AuthOptions,
  type ResolvedRetry,
} from "./options.js";

/** Everything the credential, consent and status code share for one set of options. */
export interface AuthRuntime {
  readonly options: AuthOptions;
  readonly authority: string;
  readonly logger: AuthLogger;
  readonly retry: ResolvedRetry;
  readonly secretClient: SecretClient;
  readonly network: MsalNetworkClient;
  readonly timeoutMs: number;
}

export function createRuntime(options: AuthOptions): AuthRuntime {
  validateAuthOptions(options);
  const logger = scopedLogger(options.logger ?? consoleAuthLogger);
  const retry = resolveRetry(options.retry);
  return {
    options,
    authority: authorityFor(options.cloud, options.tenantId, options.authorityHost),
    logger,
    retry,
    secretClient: createSecretClient(options),
    network: new MsalNetworkClient(retry, logger),
    timeoutMs: options.timeoutMs ?? 120_000,
  };
}

function baseConfiguration(runtime: AuthRuntime, cachePlugin: ICachePlugin | undefined): Configuration {
  const host = runtime.options.authorityHost;
  return {
    auth: {
      clientId: runtime.options.clientId,
      authority: runtime.authority,
      // A local authority is not in MSAL's list of Microsoft clouds; naming it skips instance discovery.
      ...(host === undefined ? {} : { knownAuthorities: [new URL(host).host] }),
    },
    system: {
      networkClient: runtime.network,
      loggerOptions: msalLoggerOptions(runtime.logger, runtime.options.msalLogLevel ?? "warning"),
    },
    ...(cachePlugin === undefined ? {} : { cache: { cachePlugin } }),
  };
}

/** A public client: device code flow, and refreshes of tokens consented through a public flow. */
export function createPublicApp(runtime: AuthRuntime, cachePlugin?: ICachePlugin): PublicClientApplication {
  return new PublicClientApplication(baseConfiguration(runtime, cachePlugin));
}

/** A confidential client authenticated with the configured app credential. */
export async function createConfidentialApp(
  runtime: AuthRuntime,
  cachePlugin?: ICachePlugin,
): Promise<ConfidentialClientApplication> {
  const base = baseConfiguration(runtime, cachePlugin);
  const credential = await appCredentialAuth(runtime);
  return new ConfidentialClientApplication({ ...base, auth: { ...base.auth, ...credential } });
}

/**
 * The app registration's credential for MSAL, by `credential.kind`: a client secret or a PEM
 * certificate read from Key Vault, or a managed identity token used as a federated client assertion.
 */
export async function appCredentialAuth(
  runtime: AuthRuntime,
): Promise<Pick<NodeAuthOptions, "clientSecret" | "clientCertificate" | "clientAssertion">> {
  const credential = runtime.options.credential;
  switch (credential.kind) {
    case "secret": {
      const secret = await readSecret(runtime.secretClient, credential.secretName, "client secret");
      if (!secret?.value) {
        throw new AuthError(
          "app_credential",
          `The client secret '${credential.secretName}' (PARTNER_CENTER_CLIENT_SECRET_NAME) is missing or empty in Key Vault ${runtime.options.keyVaultUrl}`,
        );
      }
      return { clientSecret: secret.value };
    }
    case "certificate": {
      const secret = await readSecret(runtime.secretClient, credential.certificateName, "certificate");
      if (!secret?.value) {
        throw new AuthError(
          "app_credential",
          `The certificate '${credential.certificateName}' (PARTNER_CENTER_CERTIFICATE_NAME) is missing in Key Vault ${runtime.options.keyVaultUrl}`,
        );
      }
      const certificate = parseCertificateBundle(
        secret.value,
        credential.certificateName,
        secret.contentType,
      );
      const daysLeft = (certificate.notAfter.getTime() - Date.now()) / 86_400_000;
      if (daysLeft < 30) {
        runtime.logger.log(
          "warning",
          `certificate '${credential.certificateName}' expires on ${certificate.notAfter.toISOString()}; renew it in Key Vault and on the app registration`,
        );
      }
      return {
        clientCertificate: {
          thumbprintSha256: certificate.thumbprintSha256,
          privateKey: certificate.privateKey,
          x5c: certificate.x5c,
        },
      };
    }
    case "managed-identity": {
      const source: TokenCredential =
        credential.assertionCredential ??
        (credential.managedIdentityClientId === undefined
          ? new ManagedIdentityCredential()
          : new ManagedIdentityCredential({ clientId: credential.managedIdentityClientId }));
      const scope = tokenExchangeScope(runtime.options.cloud);
      return {
        clientAssertion: async () => {
          const signal = currentOperation()?.signal;
          let token;
          try {
            token = await source.getToken(scope, signal === undefined ? {} : { abortSignal: signal });
          } catch (error) {
            throw new AuthError(
              "app_credential",
              `The managed identity could not get a federated assertion for ${scope}: ${error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error)}`,
              {
                cause: error,
              },
            );
          }
          if (!token)
            throw new AuthError("app_credential", `The managed identity returned no token for ${scope}`);
          return token.token;
        },
      };
    }
  }
}
