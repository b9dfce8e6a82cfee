import { ClientSecretCredential } from "@azure/identity";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { inject } from "vitest";
import { consentWithAuthCode, consentWithDeviceCode, type ConsentOutcome } from "../../src/auth/consent.js";
import type { AuthLogger, AuthLogLevel } from "../../src/auth/logging.js";
import type { AuthOptions } from "../../src/auth/options.js";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { EntraSimulator, type DeviceCodeApproval } from "../../src/simulator/entraRoute.js";
import { KeyVaultSimulator } from "../../src/simulator/keyVaultRoute.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import { createSimulatorTls, type SimulatorTls } from "../../src/simulator/tls.js";
import {
  TokenRegistry,
  type SimulatedUser,
  type TokenRegistryOptions,
} from "../../src/simulator/tokenRegistry.js";
import type { SimulatorRoute } from "../../src/simulator/types.js";

export const FIXTURE_TENANT_ID = "7d2f4c1a-3b5e-4f60-9a8b-0c1d2e3f4a5b";
export const FIXTURE_CLIENT_ID = "3c8e9f10-2a4b-4c6d-8e0f-1a2b3c4d5e6f";
export const FIXTURE_KEY_VAULT_CLIENT_ID = "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
export const FIXTURE_USER: SimulatedUser = {
  username: "partner.admin@contoso.example",
  oid: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
  name: "Partner Admin",
};

export interface AuthFixtureOptions {
  /** Name of the lock container, unique per test file (plays `export-locks`). */
  readonly lockContainer: string;
  /** Azurite connection string; injected from the global setup when absent. */
  readonly connectionString?: string;
  readonly registry?: TokenRegistryOptions;
  readonly deviceCodeApproval?: DeviceCodeApproval;
  /** Extra routes (e.g. the Partner Center route) built on the shared token registry; tried first. */
  readonly extraRoutes?: (registry: TokenRegistry) => SimulatorRoute[];
  readonly tlsDir?: string;
}

export interface LogLine {
  readonly level: AuthLogLevel;
  readonly message: string;
}

export interface AuthFixture {
  readonly server: SimulatorServer;
  readonly tls: SimulatorTls;
  readonly registry: TokenRegistry;
  readonly entra: EntraSimulator;
  readonly vault: KeyVaultSimulator;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly clientSecretName: string;
  readonly tokenCacheSecretName: string;
  readonly keyVaultClientId: string;
  readonly keyVaultClientSecret: string;
  readonly lockContainer: ContainerClient;
  /** Everything the auth code logged through the fixture's logger. */
  readonly logs: LogLine[];
  readonly logger: AuthLogger;
  /** Options for the auth code against this simulator (secret credential, local mode, fast retries). */
  options(overrides?: Partial<AuthOptions>): AuthOptions;
  /** Runs the device code consent unattended (the simulator auto-approves). */
  consentWithDeviceCode(overrides?: Partial<AuthOptions>): Promise<ConsentOutcome>;
  /** Runs the auth code + PKCE consent, following the authorize redirect to the loopback listener with fetch. */
  consentWithAuthCode(overrides?: Partial<AuthOptions>): Promise<ConsentOutcome>;
  close(): Promise<void>;
}

/**
 * An HTTPS simulator on loopback with the Entra and Key Vault routes (plus any extra routes), the
 * Partner Center app's client secret seeded in the vault, its CA trusted in this process, and
 * AuthOptions pointing at it. Storage (the lock container) is the run's Azurite.
 */
export async function startAuthFixture(fixtureOptions: AuthFixtureOptions): Promise<AuthFixture> {
  const tls = await createSimulatorTls(fixtureOptions.tlsDir);
  trustLocalCa(tls.caFile);
  const registry = new TokenRegistry(fixtureOptions.registry);
  const clientSecret = "pc-app-secret-value-do-not-log-7f3a";
  const keyVaultClientSecret = "kv-identity-secret-value-do-not-log-91be";
  const entra = new EntraSimulator({
    registry,
    tenantId: FIXTURE_TENANT_ID,
    user: FIXTURE_USER,
    apps: [
      { clientId: FIXTURE_CLIENT_ID, clientSecret, allowPublicClientFlows: true },
      { clientId: FIXTURE_KEY_VAULT_CLIENT_ID, clientSecret: keyVaultClientSecret },
    ],
    deviceCodeApproval: fixtureOptions.deviceCodeApproval ?? "after-first-poll",
    deviceCodeIntervalSeconds: 0,
  });
  const vault = new KeyVaultSimulator({ registry, tenantId: FIXTURE_TENANT_ID });
  const server = await startSimulatorServer({
    routes: [...(fixtureOptions.extraRoutes?.(registry) ?? []), entra.route, vault.route],
    tls: { key: tls.key, cert: tls.cert },
  });
  const clientSecretName = "partner-center-client-secret";
  vault.seedSecret(clientSecretName, clientSecret, { contentType: "text/plain" });
  const connectionString = fixtureOptions.connectionString ?? inject("azuriteConnectionString");
  const lockContainer = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(
    fixtureOptions.lockContainer,
  );
  const logs: LogLine[] = [];
  const logger: AuthLogger = {
    log(level, message) {
      logs.push({ level, message });
    },
  };
  const keyVaultCredential = new ClientSecretCredential(
    FIXTURE_TENANT_ID,
    FIXTURE_KEY_VAULT_CLIENT_ID,
    keyVaultClientSecret,
    {
      authorityHost: server.url,
      disableInstanceDiscovery: true,
    },
  );
  const tokenCacheSecretName = "partner-center-token-cache";

  const options = (overrides: Partial<AuthOptions> = {}): AuthOptions => ({
    cloud: "global",
    tenantId: FIXTURE_TENANT_ID,
    clientId: FIXTURE_CLIENT_ID,
    authorityHost: server.url,
    localMode: true,
    credential: { kind: "secret", secretName: clientSecretName },
    keyVaultUrl: server.url,
    tokenCacheSecretName,
    keyVaultCredential,
    lock: lockContainer,
    timeoutMs: 30_000,
    retry: { maxAttempts: 4, initialDelayMs: 20, maxDelayMs: 200 },
    logger,
    msalLogLevel: "warning",
    ...overrides,
  });

  return {
    server,
    tls,
    registry,
    entra,
    vault,
    tenantId: FIXTURE_TENANT_ID,
    clientId: FIXTURE_CLIENT_ID,
    clientSecret,
    clientSecretName,
    tokenCacheSecretName,
    keyVaultClientId: FIXTURE_KEY_VAULT_CLIENT_ID,
    keyVaultClientSecret,
    lockContainer,
    logs,
    logger,
    options,
    consentWithDeviceCode: (overrides) =>
      consentWithDeviceCode(options(overrides), { onPrompt: () => undefined, timeoutSeconds: 30 }),
    consentWithAuthCode: (overrides) =>
      consentWithAuthCode(options(overrides), {
        timeoutSeconds: 30,
        onUrl: (url) => {
          // The "browser": the simulator auto-approves and redirects to the loopback listener.
          void fetch(url).then((response) => response.body?.cancel());
        },
      }),
    close: () => server.close(),
  };
}
