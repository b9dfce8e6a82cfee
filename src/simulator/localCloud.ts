import { requireDataset, type DatasetId } from "../partnerCenter/datasets/index.js";
import { createDataset, createMutableDataset, type MutableDataset } from "./dataset.js";
import { createSimulatedDatasets, type OtherDatasetId, type SimulatedDataset } from "./datasets/index.js";
import { EntraSimulator, type DeviceCodeApproval, type SimulatedApi } from "./entraRoute.js";
import { KeyVaultSimulator } from "./keyVaultRoute.js";
import {
  createPartnerCenterRoute,
  type NextLinkMode,
  type PartnerCenterSimulator,
} from "./partnerCenterRoute.js";
import { createMutableTable, type MutableRowTable } from "./rowTable.js";
import { startSimulatorServer, type SimulatorServer } from "./server.js";
import { createSimulatorTls, type SimulatorTls } from "./tls.js";
import { TokenRegistry, type SimulatedUser, type TokenRegistryOptions } from "./tokenRegistry.js";

/** Fixed identifiers of the simulated tenant; not secrets of any real tenant. */
export const LOCAL_TENANT_ID = "7d2f4c1a-3b5e-4f60-9a8b-0c1d2e3f4a5b";
export const LOCAL_CLIENT_ID = "3c8e9f10-2a4b-4c6d-8e0f-1a2b3c4d5e6f";
export const LOCAL_KEY_VAULT_CLIENT_ID = "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
export const LOCAL_USER: SimulatedUser = {
  username: "partner.admin@contoso.example",
  oid: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
  name: "Partner Admin",
};
export const LOCAL_CLIENT_SECRET_NAME = "partner-center-client-secret";
/** The product's own HTTP API (its app registration, `api://<id>`), with the app roles it checks. */
export const LOCAL_API_CLIENT_ID = "c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f";
export const LOCAL_API_ROLES = ["Exports.Read", "Exports.Run", "Exports.Admin"] as const;
/** Client applications that call the API with client credentials, one per app role and one with none. */
export const LOCAL_API_CALLER_ADMIN_CLIENT_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a51";
export const LOCAL_API_CALLER_RUNNER_CLIENT_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a52";
export const LOCAL_API_CALLER_READER_CLIENT_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a53";
export const LOCAL_API_CALLER_NONE_CLIENT_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a54";

const API_CALLER_NAMES = ["admin", "runner", "reader", "none"] as const;
export type LocalApiCallerName = (typeof API_CALLER_NAMES)[number];
export interface LocalApiCaller {
  readonly clientId: string;
  readonly clientSecret: string;
}

const API_CALLERS: Readonly<Record<LocalApiCallerName, { clientId: string; roles: readonly string[] }>> = {
  admin: { clientId: LOCAL_API_CALLER_ADMIN_CLIENT_ID, roles: ["Exports.Admin"] },
  runner: { clientId: LOCAL_API_CALLER_RUNNER_CLIENT_ID, roles: ["Exports.Run"] },
  reader: { clientId: LOCAL_API_CALLER_READER_CLIENT_ID, roles: ["Exports.Read"] },
  none: { clientId: LOCAL_API_CALLER_NONE_CLIENT_ID, roles: [] },
};

/** Random per start, like the other simulated apps' secrets. */
function newApiCaller(name: LocalApiCallerName): LocalApiCaller {
  return { clientId: API_CALLERS[name].clientId, clientSecret: `local-${crypto.randomUUID()}` };
}

export interface LocalCloudOptions {
  /** Referrals rows. */
  readonly rows: number;
  /**
   * Rows of the other datasets (default DEFAULT_DATASET_ROWS, a few thousand each); a `referrals`
   * entry here wins over `rows`.
   */
  readonly datasetRows?: Partial<Record<DatasetId, number>>;
  /**
   * Serve the upstream quirks the registry documents in some rows (aliases such as licenseActive,
   * the 0001-01-01 null sentinel, a numeric mpnId, date-only searchDate, grouped subscription
   * counts as strings), so the product's tolerance of them is exercised. Default true.
   */
  readonly quirks?: boolean;
  readonly seed?: number;
  /** Data set dates fall before this instant (default: start of today, UTC). */
  readonly end?: string;
  readonly latencyMs?: number;
  readonly faults?: string;
  readonly nextLinkMode?: NextLinkMode;
  readonly port?: number;
  readonly tlsDir?: string;
  readonly registry?: TokenRegistryOptions;
  readonly deviceCodeApproval?: DeviceCodeApproval;
}

/** Partner Center, Entra ID and Key Vault played by one HTTPS server on loopback. */
export interface LocalCloud {
  readonly url: string;
  readonly tls: SimulatorTls;
  readonly server: SimulatorServer;
  readonly registry: TokenRegistry;
  readonly entra: EntraSimulator;
  readonly vault: KeyVaultSimulator;
  readonly partnerCenter: PartnerCenterSimulator;
  /** The referrals rows. */
  readonly dataset: MutableDataset;
  /** The other datasets' rows, from the same seed; keyed datasets' rows can change (see mutable). */
  readonly datasets: Readonly<Record<OtherDatasetId, SimulatedDataset>>;
  /** The changeable rows of a dataset with a key (throws for search and Azure usage, which have none). */
  mutable(id: OtherDatasetId): MutableRowTable;
  /** Client applications that get app-only tokens for the product's API (client credentials). */
  readonly apiCallers: Readonly<Record<LocalApiCallerName, LocalApiCaller>>;
  /** The product's settings (env vars) that point it at this simulator. */
  settingsEnv(): Record<string, string>;
  close(): Promise<void>;
}

export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const tls = await createSimulatorTls(options.tlsDir);
  const registry = new TokenRegistry(options.registry);
  // Random per start: the simulated app's secrets live only in this process and its vault.
  const clientSecret = `local-${crypto.randomUUID()}`;
  const keyVaultClientSecret = `local-${crypto.randomUUID()}`;
  const api: SimulatedApi = {
    clientId: LOCAL_API_CLIENT_ID,
    identifierUri: `api://${LOCAL_API_CLIENT_ID}`,
    roles: LOCAL_API_ROLES,
  };
  const apiCallers: Record<LocalApiCallerName, LocalApiCaller> = {
    admin: newApiCaller("admin"),
    runner: newApiCaller("runner"),
    reader: newApiCaller("reader"),
    none: newApiCaller("none"),
  };
  const entra = new EntraSimulator({
    registry,
    tenantId: LOCAL_TENANT_ID,
    user: LOCAL_USER,
    apps: [
      { clientId: LOCAL_CLIENT_ID, clientSecret, allowPublicClientFlows: true },
      { clientId: LOCAL_KEY_VAULT_CLIENT_ID, clientSecret: keyVaultClientSecret },
      ...Object.values(apiCallers),
    ],
    apis: [api],
    deviceCodeApproval: options.deviceCodeApproval ?? "after-first-poll",
    deviceCodeIntervalSeconds: 0,
  });
  entra.assignApiRoles({ userOid: LOCAL_USER.oid }, LOCAL_API_CLIENT_ID, ["Exports.Admin"]);
  for (const name of API_CALLER_NAMES) {
    entra.assignApiRoles(
      { clientId: API_CALLERS[name].clientId },
      LOCAL_API_CLIENT_ID,
      API_CALLERS[name].roles,
    );
  }
  const vault = new KeyVaultSimulator({ registry, tenantId: LOCAL_TENANT_ID });
  vault.seedSecret(LOCAL_CLIENT_SECRET_NAME, clientSecret, { contentType: "text/plain" });
  const dataset = createMutableDataset(
    createDataset({
      size: options.datasetRows?.referrals ?? options.rows,
      seed: options.seed ?? 1,
      ...(options.end ? { end: options.end } : {}),
    }),
  );
  const { referrals: _referrals, ...otherRows } = options.datasetRows ?? {};
  const generated = createSimulatedDatasets({
    seed: options.seed ?? 1,
    rows: otherRows,
    ...(options.end ? { end: options.end } : {}),
    ...(options.quirks !== undefined ? { quirks: options.quirks } : {}),
  });
  const tables = new Map<OtherDatasetId, MutableRowTable>();
  const datasets = Object.fromEntries(
    Object.values(generated).map((d) => {
      const key = requireDataset(d.id).key;
      if (key === null) return [d.id, d];
      const rows = createMutableTable(d.rows, key);
      tables.set(d.id as OtherDatasetId, rows);
      return [d.id, { ...d, rows }];
    }),
  ) as Record<OtherDatasetId, SimulatedDataset>;
  const partnerCenter = createPartnerCenterRoute({
    dataset,
    datasets,
    tokenVerifier: registry,
    ...(options.latencyMs !== undefined ? { latencyMs: options.latencyMs } : {}),
    ...(options.faults !== undefined ? { faults: options.faults } : {}),
    ...(options.nextLinkMode !== undefined ? { nextLinkMode: options.nextLinkMode } : {}),
  });
  const server = await startSimulatorServer({
    routes: [partnerCenter.route, entra.route, vault.route],
    tls: { key: tls.key, cert: tls.cert },
    ...(options.port !== undefined ? { port: options.port } : {}),
  });
  entra.origin = server.url;
  return {
    url: server.url,
    tls,
    server,
    registry,
    entra,
    vault,
    partnerCenter,
    dataset,
    datasets,
    mutable(id) {
      const rows = tables.get(id);
      if (rows === undefined) throw new Error(`${id} has no key, so its rows cannot be changed by key`);
      return rows;
    },
    apiCallers,
    settingsEnv: () => ({
      LOCAL_MODE: "true",
      LOCAL_CA_CERT_FILE: tls.caFile,
      PARTNER_CENTER_BASE_URL: server.url,
      PARTNER_CENTER_AUTHORITY_HOST: server.url,
      AZURE_TENANT_ID: LOCAL_TENANT_ID,
      PARTNER_CENTER_CLIENT_ID: LOCAL_CLIENT_ID,
      PARTNER_CENTER_CREDENTIAL: "secret",
      PARTNER_CENTER_CLIENT_SECRET_NAME: LOCAL_CLIENT_SECRET_NAME,
      KEY_VAULT_URL: server.url,
      // DefaultAzureCredential -> EnvironmentCredential against the simulated Entra ID, for Key Vault.
      AZURE_CLIENT_ID: LOCAL_KEY_VAULT_CLIENT_ID,
      AZURE_CLIENT_SECRET: keyVaultClientSecret,
      AZURE_AUTHORITY_HOST: server.url,
      API_CLIENT_ID: LOCAL_API_CLIENT_ID,
    }),
    close: () => server.close(),
  };
}
