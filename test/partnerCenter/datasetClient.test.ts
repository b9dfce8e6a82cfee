import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { PartnerCenterClient } from "../../src/partnerCenter/client.js";
import { DATASETS, requireDataset, type DatasetId } from "../../src/partnerCenter/datasets/index.js";
import { isPartnerCenterError } from "../../src/partnerCenter/errors.js";
import type { ReferralRow } from "../../src/partnerCenter/fields.js";
import { validateQuery, type QueryInput } from "../../src/partnerCenter/query.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import { fixtureCredential } from "../support/exportFixture.js";

/**
 * The client against a loopback server that answers each path with a canned body, so the quirks
 * the documentation shows (envelopes, aliases, sentinels, numbers as text) are served exactly.
 */
let api: SimulatorServer;
/** Bodies by path, each a list of pages served by `skip` order. */
const bodies = new Map<string, unknown[]>();

beforeAll(async () => {
  const tls = await createSimulatorTls(join(tmpdir(), "referrals-export-test-tls"));
  trustLocalCa(tls.caFile);
  api = await startSimulatorServer({
    routes: [
      (_req, res, url) => {
        const pages = bodies.get(url.pathname);
        if (pages === undefined) return Promise.resolve(false);
        const served = api.requests.filter((r) => r.path === url.pathname).length - 1;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(pages[Math.min(served, pages.length - 1)]));
        return Promise.resolve(true);
      },
    ],
    tls: { key: tls.key, cert: tls.cert },
  });
});
afterAll(async () => {
  await api.close();
});
beforeEach(() => {
  bodies.clear();
  api.clearRequests();
});

function client(pageSize = 10_000): PartnerCenterClient {
  return new PartnerCenterClient({
    baseUrl: api.url,
    credential: fixtureCredential,
    pageSize,
    maxRetries: 0,
    retryBaseDelayMs: 1,
  });
}

async function readAll(
  dataset: DatasetId,
  input: QueryInput = {},
  pageSize?: number,
): Promise<ReferralRow[]> {
  const rows: ReferralRow[] = [];
  const pages = client(pageSize).readPages(validateQuery(input, dataset), {
    correlationId: randomUUID(),
    deadline: Date.now() + 30_000,
  });
  for await (const page of pages) rows.push(...page.rows(0, page.rowCount));
  return rows;
}

describe("each dataset's path and canonical query", () => {
  it.each(DATASETS.map((d) => [d.id, d] as const))("%s", async (id, dataset) => {
    bodies.set(dataset.path, [{ Value: [], "@nextLink": null, TotalCount: 0 }]);
    const groupable = dataset.fields.find((f) => f.groupBy)?.name ?? "";
    expect(await readAll(id, { groupby: groupable })).toEqual([]);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]).toMatchObject({
      method: "GET",
      path: dataset.path,
      query: { groupby: groupable, top: "10000", skip: "0" },
    });
  });

  it("sends the dataset's date literal form upstream", async () => {
    const azure = requireDataset("azureUsage");
    bodies.set(azure.path, [{ Value: [] }]);
    await readAll("azureUsage", { filter: "usageDate ge '2024-01-01'" });
    expect(api.requests[0]?.query.filter).toBe("usageDate ge cast('2024-01-01',Edm.DateTimeOffset)");
  });
});

describe("rows read the way the family's pages show them", () => {
  it("subscriptions: grouped counts sent as text are numbers", async () => {
    bodies.set("/partner/v1/analytics/subscriptions", [
      {
        Value: [
          { subscriptionType: "Azure", subscriptionCount: "63", licenseCount: "0" },
          { subscriptionType: "Office", subscriptionCount: 7, licenseCount: "12" },
        ],
        "@nextLink": null,
        TotalCount: 2,
      },
    ]);
    expect(await readAll("subscriptions", { groupby: "subscriptionType" })).toEqual([
      { subscriptionType: "Azure", subscriptionCount: 63, licenseCount: 0 },
      { subscriptionType: "Office", subscriptionCount: 7, licenseCount: 12 },
    ]);
  });

  it("subscriptions: booleans stay booleans, 'true' text becomes one, extra fields pass", async () => {
    bodies.set("/partner/v1/analytics/subscriptions", [
      {
        Value: [
          {
            id: "A",
            autoRenewEnabled: true,
            creationDate: "2016-02-04T19:29:38.037",
            churnRisk: "High",
            x: 1,
          },
          { id: "B", autoRenewEnabled: "False", creationDate: null },
        ],
      },
    ]);
    const rows = await readAll("subscriptions");
    expect(rows[0]).toEqual({
      id: "A",
      autoRenewEnabled: true,
      creationDate: "2016-02-04T19:29:38.037",
      churnRisk: "High",
      x: 1,
    });
    expect(rows[1]?.autoRenewEnabled).toBe(false);
  });

  it("search: a numeric mpnId is written as text, a date-only searchDate is a date", async () => {
    bodies.set("/partner/v1/analytics/search", [
      {
        Value: [{ mpnId: 2604568, searchDate: "2018-05-30", contactButtonClicked: false, companyName: "C" }],
      },
    ]);
    expect(await readAll("search")).toEqual([
      { mpnId: "2604568", searchDate: "2018-05-30", contactButtonClicked: false, companyName: "C" },
    ]);
  });

  it("indirectResellers: the example's field name maps to the documented one, year 1 becomes null", async () => {
    bodies.set("/partner/v1/analytics/indirectresellers", [
      {
        Value: [
          {
            id: "1111111",
            latestSubscriptionDeprovisionedEndDate: "0001-01-01T00:00:00",
            firstSubscriptionSuspendedDate: "0001-01-01T00:00:00",
            firstSubscriptionCreationDate: "2018-01-01T00:00:00",
            subscriptionCount: 10,
            licenseCount: "20.5",
          },
          // When both arrive, the documented name wins and the alias stays an extra field.
          { id: "2", latestSubscriptionDeprovisionedDate: null, latestSubscriptionDeprovisionedEndDate: "x" },
        ],
      },
    ]);
    const rows = await readAll("indirectResellers");
    expect(rows[0]).toEqual({
      id: "1111111",
      latestSubscriptionDeprovisionedDate: null,
      firstSubscriptionSuspendedDate: null,
      firstSubscriptionCreationDate: "2018-01-01T00:00:00",
      subscriptionCount: 10,
      licenseCount: 20.5,
    });
    expect(rows[1]).toEqual({
      id: "2",
      latestSubscriptionDeprovisionedDate: null,
      latestSubscriptionDeprovisionedEndDate: "x",
    });
  });

  it("azureUsage: lower-case envelope, the resource table's CustomerTenantId, fractional quantities", async () => {
    bodies.set("/partner/v1/analytics/usage/azure", [
      {
        value: [
          { CustomerTenantId: "t1", usageDate: "2018-05-27T00:00:00", quantity: 0.36, reservationId: "" },
        ],
        totalCount: 1,
      },
    ]);
    expect(await readAll("azureUsage")).toEqual([
      { customerTenantId: "t1", usageDate: "2018-05-27T00:00:00", quantity: 0.36, reservationId: "" },
    ]);
  });

  it("licensesUsage: the `items` envelope and the example's licenseActive", async () => {
    bodies.set("/partner/v1/analytics/commercial/usage/license", [
      {
        totalCount: 1,
        items: [
          {
            workloadCode: "EXO",
            licenseActive: "5",
            licensesQualified: 9,
            processedDateTime: "2018-10-14T00:00:00",
          },
        ],
        attributes: { objectType: "Collection" },
      },
    ]);
    expect(await readAll("licensesUsage")).toEqual([
      {
        workloadCode: "EXO",
        licensesActive: 5,
        licensesQualified: 9,
        processedDateTime: "2018-10-14T00:00:00",
      },
    ]);
  });

  it("pages a dataset by skip as referrals are paged", async () => {
    const path = requireDataset("licensesDeployment").path;
    bodies.set(path, [
      { Value: [{ channel: "a" }, { channel: "b" }], TotalCount: 3 },
      { Value: [{ channel: "c" }], TotalCount: 3 },
    ]);
    const rows = await readAll("licensesDeployment", {}, 2);
    expect(rows.map((r) => r.channel)).toEqual(["a", "b", "c"]);
    expect(api.requests.map((r) => [r.path, r.query.skip])).toEqual([
      [path, "0"],
      [path, "2"],
    ]);
  });

  it.each([
    [
      "subscriptions",
      { Value: [{ licenseCount: "two" }] },
      "row 0 field 'licenseCount' is not a whole number: \"two\"",
    ],
    [
      "subscriptions",
      { Value: [{ autoRenewEnabled: "yes" }] },
      "field 'autoRenewEnabled' is not true or false",
    ],
    ["search", { Value: [{}, { searchDate: "May 30" }] }, "row 1 field 'searchDate' is not a date"],
    ["azureUsage", { Value: [{ meterCategory: { a: 1 } }] }, "field 'meterCategory' is not a string or null"],
    ["licensesUsage", { items: "none" }, "'Value' is not an array"],
  ] as const)("%s: refuses %j", async (dataset, body, fragment) => {
    bodies.set(requireDataset(dataset).path, [body]);
    const error = await readAll(dataset).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPartnerCenterError(error)).toBe(true);
    expect(error).toMatchObject({ reason: "bad_response" });
    expect((error as Error).message).toContain(fragment);
  });
});

describe("referrals rows keep their own checks", () => {
  it("still refuses a number in a referral's text field and a row without id", async () => {
    bodies.set("/partner/v1/analytics/referrals", [{ Value: [{ id: "1", status: 5 }] }]);
    const error = await readAll("referrals").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).message).toContain("row 0 field 'status' is not a string or null");
    bodies.set("/partner/v1/analytics/referrals", [{ value: [{ status: "Won" }] }]);
    const missing = await readAll("referrals").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((missing as Error).message).toContain("row 0 has no valid 'id'");
  });
});
