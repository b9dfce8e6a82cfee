import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { PartnerCenterClient } from "../../src/partnerCenter/client.js";
import { requireDataset, type DatasetId } from "../../src/partnerCenter/datasets/index.js";
import { validateQuery, type QueryInput } from "../../src/partnerCenter/query.js";
import { createDataset } from "../../src/simulator/dataset.js";
import { createSimulatedDatasets, type OtherDatasetId } from "../../src/simulator/datasets/index.js";
import {
  createPartnerCenterRoute,
  type PartnerCenterSimulator,
} from "../../src/simulator/partnerCenterRoute.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import { fixtureCredential, fixtureVerifier } from "../support/exportFixture.js";

/**
 * The product's own queries (its canonical filter text: unquoted booleans, cast or quoted dates)
 * against the simulated service, read by the product's client: the two sides of the grammar agree.
 */
const END = "2026-11-24T00:00:00Z";
const ROWS: Record<OtherDatasetId, number> = {
  search: 900,
  subscriptions: 800,
  indirectResellers: 500,
  azureUsage: 1_000,
  licensesDeployment: 700,
  licensesUsage: 900,
};

let server: SimulatorServer;
let sim: PartnerCenterSimulator;

beforeAll(async () => {
  const tls = await createSimulatorTls(join(tmpdir(), "referrals-export-test-tls"));
  trustLocalCa(tls.caFile);
  sim = createPartnerCenterRoute({
    dataset: createDataset({ size: 800, seed: 2, end: END }),
    datasets: createSimulatedDatasets({ seed: 2, end: END, rows: ROWS }),
    tokenVerifier: fixtureVerifier,
  });
  server = await startSimulatorServer({ routes: [sim.route], tls: { key: tls.key, cert: tls.cert } });
});
afterAll(async () => {
  await server.close();
});

async function readAll(id: DatasetId, input: QueryInput): Promise<{ rows: number; total?: number }> {
  const client = new PartnerCenterClient({
    baseUrl: server.url,
    credential: fixtureCredential,
    pageSize: 150,
    maxRetries: 0,
  });
  let rows = 0;
  let total: number | undefined;
  const pages = client.readReferralPages(validateQuery(input, id), {
    correlationId: randomUUID(),
    deadline: Date.now() + 60_000,
  });
  for await (const page of pages) {
    rows += page.rows(0, page.rowCount).length;
    total = page.totalCount ?? total;
  }
  return { rows, ...(total !== undefined ? { total } : {}) };
}

describe("the product's queries against the simulated datasets", () => {
  it.each<[DatasetId, QueryInput]>([
    ["subscriptions", { filter: "autoRenewEnabled eq true and creationDate ge '2024-06-01'" }],
    [
      "subscriptions",
      { filter: "status ne 'ACTIVE'", groupby: "customerMarket,creationDate", aggregationLevel: "month" },
    ],
    ["search", { filter: "referralSubmitted eq false and searchDate lt '2026-09-01'" }],
    ["indirectResellers", { filter: "market eq 'US' or firstSubscriptionCreationDate le '2023-01-01'" }],
    [
      "azureUsage",
      { filter: "usageDate ge '2026-10-01'", groupby: "meterCategory,usageDate", aggregationLevel: "week" },
    ],
    ["licensesDeployment", { filter: "channel eq 'reseller'" }],
    ["licensesUsage", { groupby: "workloadName,channel" }],
    ["referrals", { filter: "status eq 'Won'" }],
  ])("%s: %j", async (id, input) => {
    const validated = validateQuery(input, id);
    const expected = sim.expected(validated);
    expect(expected.length).toBeGreaterThan(0);
    // The simulator reads the product's canonical text as the same query.
    expect(expected).toEqual(sim.expectedFor(id, input));
    if (requireDataset(id).dateLiteral === "cast" && input.filter?.includes("'20") === true) {
      expect(validated.filter).toContain("Edm.DateTimeOffset");
    }
    const read = await readAll(id, input);
    expect(read.rows).toBe(expected.length);
    expect(read.total).toBe(expected.length);
  });
});
