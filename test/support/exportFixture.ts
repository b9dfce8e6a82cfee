import { join } from "node:path";
import { tmpdir } from "node:os";
import type { TokenCredential } from "@azure/core-auth";
import { inject } from "vitest";
import { loadSettings, type Settings } from "../../src/config/settings.js";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { createLogger, type Logger } from "../../src/logging/logger.js";
import { createDataset, createMutableDataset, type MutableDataset } from "../../src/simulator/dataset.js";
import {
  createPartnerCenterRoute,
  type PartnerCenterRouteOptions,
  type PartnerCenterSimulator,
} from "../../src/simulator/partnerCenterRoute.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import { createApp, type App } from "../../src/app/app.js";
import type { TokenVerifier } from "../../src/simulator/types.js";

export const TEST_TOKEN = "fixture-access-token-7f3a";

/** Accepts only the fixture's token: the export core's own tests do not need consent. */
export const fixtureVerifier: TokenVerifier = {
  verify: (h) => (h === undefined ? "missing" : h === `Bearer ${TEST_TOKEN}` ? "ok" : "invalid"),
};

export const fixtureCredential: TokenCredential = {
  getToken: () => Promise.resolve({ token: TEST_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }),
};

export interface ExportFixture {
  readonly server: SimulatorServer;
  readonly partnerCenter: PartnerCenterSimulator;
  readonly dataset: MutableDataset;
  readonly env: Record<string, string>;
  readonly settings: Settings;
  readonly services: App;
  readonly logs: string[];
  /** Requests to the referrals endpoint only. */
  referralsRequests(): SimulatorServer["requests"];
  close(): Promise<void>;
}

let containerCounter = 0;

export interface FixtureOptions extends Partial<
  Omit<PartnerCenterRouteOptions, "dataset" | "tokenVerifier">
> {
  readonly rows: number;
  readonly seed?: number;
  readonly env?: Record<string, string>;
}

/** An HTTPS Partner Center simulator, a fresh export container in the shared Azurite, and Services wired to both. */
export async function startExportFixture(options: FixtureOptions): Promise<ExportFixture> {
  const tls = await createSimulatorTls(join(tmpdir(), "referrals-export-test-tls"));
  trustLocalCa(tls.caFile);
  const dataset = createMutableDataset(
    createDataset({ size: options.rows, seed: options.seed ?? 42, end: "2026-11-01T00:00:00Z" }),
  );
  const { rows: _rows, seed: _seed, env: extraEnv, ...routeOptions } = options;
  const partnerCenter = createPartnerCenterRoute({
    ...routeOptions,
    dataset,
    tokenVerifier: fixtureVerifier,
  });
  const server = await startSimulatorServer({
    routes: [partnerCenter.route],
    tls: { key: tls.key, cert: tls.cert },
  });
  const container = `exp-${process.pid}-${++containerCounter}-${Date.now().toString(36)}`;
  const env: Record<string, string> = {
    LOCAL_MODE: "true",
    LOCAL_CA_CERT_FILE: tls.caFile,
    PARTNER_CENTER_BASE_URL: server.url,
    EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
    EXPORT_CONTAINER: container,
    EXPORT_DEADLINE_SECONDS: "120",
    EXPORT_PROFILES: JSON.stringify([
      { name: "all-referrals", formats: ["csv", "json"] },
      { name: "by-market-month", groupby: ["customerMarket", "createdDate"], aggregationLevel: "month" },
    ]),
    ...extraEnv,
  };
  const settings = loadSettings(env);
  const logs: string[] = [];
  const logger: Logger = createLogger("debug", (line) => logs.push(line));
  const services = createApp(settings, { partnerCenterCredential: fixtureCredential, logger });
  await services.ensureStorage();
  return {
    server,
    partnerCenter,
    dataset,
    env,
    settings,
    services,
    logs,
    referralsRequests: () => server.requests.filter((r) => /\/analytics\/referrals/i.test(r.path)),
    close: () => server.close(),
  };
}

/** Every blob in the container: name -> content. */
export async function readAll(services: App): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const blob of services.exportContainer.listBlobsFlat()) {
    out.set(blob.name, await services.exportContainer.getBlobClient(blob.name).downloadToBuffer());
  }
  return out;
}
