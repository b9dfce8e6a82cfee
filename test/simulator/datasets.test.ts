import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DATASETS,
  requireDataset,
  type DatasetDefinition,
  type DatasetId,
} from "../../src/partnerCenter/datasets/index.js";
import { createDataset } from "../../src/simulator/dataset.js";
import { parseDatasetQuery } from "../../src/simulator/datasetQuery.js";
import { expectedResult } from "../../src/simulator/datasetResults.js";
import {
  createDatasetRows,
  createSimulatedDatasets,
  DEFAULT_DATASET_ROWS,
  OTHER_DATASET_IDS,
  type OtherDatasetId,
  type SimulatedDataset,
} from "../../src/simulator/datasets/index.js";
import { startLocalCloud } from "../../src/simulator/localCloud.js";
import {
  createPartnerCenterRoute,
  type PartnerCenterRouteOptions,
  type PartnerCenterSimulator,
} from "../../src/simulator/partnerCenterRoute.js";
import type { SimRow } from "../../src/simulator/rowTable.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import type { TokenVerifier } from "../../src/simulator/types.js";

const END = "2026-11-24T00:00:00Z";
const AUTH = { Authorization: "Bearer test-token" };
const SIZES: Record<OtherDatasetId, number> = {
  search: 1_500,
  subscriptions: 1_200,
  indirectResellers: 600,
  azureUsage: 1_800,
  licensesDeployment: 900,
  licensesUsage: 1_400,
};

const verifier: TokenVerifier = {
  verify(authorization) {
    if (authorization === undefined) return "missing";
    if (authorization === "Bearer test-token") return "ok";
    if (authorization === "Bearer app-only") return "app-only";
    return "invalid";
  },
};

type Row = Record<string, unknown>;
interface Page {
  Value: Row[];
  TotalCount: number;
  "@nextLink"?: string | null;
}

interface Harness {
  server: SimulatorServer;
  sim: PartnerCenterSimulator;
  get(id: DatasetId, query: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
  page(id: DatasetId, query: Record<string, string>): Promise<Page>;
  pageAll(id: DatasetId, query: Record<string, string>, top: number): Promise<Row[]>;
}

async function startHarness(
  datasets: Partial<Record<OtherDatasetId, SimulatedDataset>>,
  options: Omit<PartnerCenterRouteOptions, "dataset" | "tokenVerifier" | "datasets"> = {},
): Promise<Harness> {
  const sim = createPartnerCenterRoute({
    dataset: createDataset({ size: 500, seed: 1, end: END }),
    datasets,
    tokenVerifier: verifier,
    ...options,
  });
  const server = await startSimulatorServer({ routes: [sim.route] });
  const get = (id: DatasetId, query: Record<string, string>, headers: Record<string, string> = AUTH) =>
    fetch(new URL(`${requireDataset(id).path}?${new URLSearchParams(query).toString()}`, server.url), {
      headers,
    });
  const page = async (id: DatasetId, query: Record<string, string>): Promise<Page> => {
    const res = await get(id, query);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Page;
  };
  const pageAll = async (id: DatasetId, query: Record<string, string>, top: number): Promise<Row[]> => {
    const rows: Row[] = [];
    for (let skip = 0; skip < 1_000_000; skip += top) {
      const body = await page(id, { ...query, top: String(top), skip: String(skip) });
      rows.push(...body.Value);
      if (body.Value.length < top) break;
    }
    return rows;
  };
  return { server, sim, get, page, pageAll };
}

function allRows(source: SimulatedDataset): SimRow[] {
  return Array.from({ length: source.rows.size }, (_, i) => source.rows.get(i));
}

function keyOf(definition: DatasetDefinition, row: Row): string {
  return JSON.stringify((definition.key ?? []).map((field) => row[field]));
}

/** A field's value whatever spelling the row uses (the documented name or one of its aliases). */
function valueOf(definition: DatasetDefinition, row: Row, field: string): unknown {
  if (row[field] !== undefined) return row[field];
  const aliases = definition.fields.find((f) => f.name === field)?.aliases ?? [];
  return aliases.map((alias) => row[alias]).find((v) => v !== undefined);
}

function sha256(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}

const DATES = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{3})?)?$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const MARKET = /^[A-Z]{2}$/;

describe("simulated datasets: data", () => {
  const data = createSimulatedDatasets({ seed: 11, end: END, rows: SIZES });
  const plain = createSimulatedDatasets({ seed: 11, end: END, rows: SIZES, quirks: false });

  it("is deterministic per seed, differs across seeds, and a row depends only on (seed, index)", () => {
    for (const id of OTHER_DATASET_IDS) {
      const again = createSimulatedDatasets({ seed: 11, end: END, rows: SIZES })[id];
      expect(allRows(again)).toEqual(allRows(data[id]));
      const other = createDatasetRows(id, { size: SIZES[id], seed: 12, end: END });
      const same = allRows(data[id]).filter((row, i) => JSON.stringify(row) === JSON.stringify(other.get(i)));
      expect(same.length, id).toBeLessThan(SIZES[id] / 20);
    }
    // A search row is the same whatever the size.
    const big = createDatasetRows("search", { size: 100_000, seed: 11, end: END });
    expect(big.get(7)).toEqual(data.search.rows.get(7));
  });

  it("has the documented fields in order (ungrouped-only measures left out), with an alias in place of its field", () => {
    for (const id of OTHER_DATASET_IDS) {
      const definition = requireDataset(id);
      const expected = definition.fields
        .filter(
          (f) =>
            f.groupedOnly !== true && !(id === "indirectResellers" && f.name === "indirectResellerCount"),
        )
        .map((f) => f.name);
      for (const row of allRows(plain[id])) expect(Object.keys(row), id).toEqual(expected);
      for (const row of allRows(data[id])) {
        const canonical = Object.keys(row).map(
          (key) => definition.fields.find((f) => f.name === key || f.aliases?.includes(key))?.name,
        );
        expect(canonical, id).toEqual(expected);
      }
    }
  });

  it("keeps declared keys unique", () => {
    for (const id of OTHER_DATASET_IDS) {
      const definition = requireDataset(id);
      if (definition.key === null) continue;
      const keys = new Set(allRows(data[id]).map((row) => keyOf(definition, row)));
      expect(keys.size, id).toBe(SIZES[id]);
    }
    // The combinations stay distinct at the default size too.
    const usage = createDatasetRows("licensesUsage", { size: DEFAULT_DATASET_ROWS.licensesUsage, seed: 3 });
    const keys = new Set(
      Array.from({ length: usage.size }, (_, i) => keyOf(requireDataset("licensesUsage"), usage.get(i))),
    );
    expect(keys.size).toBe(DEFAULT_DATASET_ROWS.licensesUsage);
  });

  it("writes subscriptions on one consistent timeline", () => {
    const statuses = new Set<unknown>();
    for (const row of allRows(plain.subscriptions)) {
      statuses.add(row.status);
      expect(row.id).toMatch(GUID);
      expect(row.id).toBe((row.id as string).toUpperCase());
      expect(row.customerTenantId).toMatch(GUID);
      expect(row.customerMarket).toMatch(MARKET);
      expect(typeof row.autoRenewEnabled).toBe("boolean");
      const chain = [
        row.trialStartDate,
        row.trialEndDate,
        row.effectiveStartDate,
        row.commitmentEndDate,
      ].filter((d): d is string => d !== null);
      expect([...chain].sort()).toEqual(chain);
      expect((row.creationDate as string) <= (row.effectiveStartDate as string)).toBe(true);
      const date = (field: string): string | null => row[field] as string | null;
      const deprovisioned = date("deprovisionedDate");
      expect(deprovisioned !== null).toBe(row.status === "DEPROVISIONED");
      if (deprovisioned !== null) expect(deprovisioned < END.slice(0, 19)).toBe(true);
      const converted = date("trialToPaidConversionDate");
      if (converted !== null) expect(converted).toBe(row.trialEndDate);
      const renewed = date("lastRenewalDate");
      if (renewed !== null) {
        expect(renewed >= (row.effectiveStartDate as string)).toBe(true);
        expect(renewed < (row.commitmentEndDate as string)).toBe(true);
      }
      const used = date("lastUsageDate");
      if (used !== null) expect(used >= (row.effectiveStartDate as string)).toBe(true);
      expect(row.licenseCount).toEqual(row.subscriptionType === "Azure" ? 0 : expect.any(Number));
      for (const field of ["creationDate", "effectiveStartDate", "commitmentEndDate"]) {
        expect(row[field]).toMatch(DATES);
      }
    }
    expect([...statuses].sort()).toEqual(["ACTIVE", "DEPROVISIONED", "SUSPENDED"]);
    const products = new Set(allRows(plain.subscriptions).map((r) => r.productName));
    for (const name of [
      "Office 365 E3",
      "Microsoft 365 Business Premium",
      "Dynamics 365 Sales",
      "Azure plan",
    ]) {
      expect(products).toContain(name);
    }
  });

  it("orders indirect resellers' first and latest dates and writes never-happened dates as the sentinel or null", () => {
    const sentinel = requireDataset("indirectResellers").nullSentinels?.[0];
    expect(sentinel).toBe("0001-01-01T00:00:00");
    const pairs = ["Creation", "End", "Suspended", "Deprovisioned"] as const;
    let sentinels = 0;
    let nulls = 0;
    let aliases = 0;
    for (const row of allRows(data.indirectResellers)) {
      expect(row.id).toMatch(/^\d{7}$/);
      expect(row.market).toMatch(MARKET);
      if (row.latestSubscriptionDeprovisionedEndDate !== undefined) aliases++;
      for (const pair of pairs) {
        const first = row[`firstSubscription${pair}Date`];
        const latest = valueOf(requireDataset("indirectResellers"), row, `latestSubscription${pair}Date`);
        if (first === sentinel || first === null) {
          expect(latest).toBe(first);
          if (first === null) nulls++;
          else sentinels++;
          continue;
        }
        expect(first).toMatch(DATES);
        expect((first as string) <= (latest as string)).toBe(true);
        expect((row.firstSubscriptionCreationDate as string) <= (first as string)).toBe(true);
      }
    }
    expect(sentinels).toBeGreaterThan(0);
    expect(nulls).toBeGreaterThan(0);
    expect(aliases).toBeGreaterThan(0);
    for (const row of allRows(plain.indirectResellers)) {
      expect(Object.values(row)).not.toContain(sentinel);
      expect(row.latestSubscriptionDeprovisionedEndDate).toBeUndefined();
    }
  });

  it("nests license counts and serves the licenseActive alias in some rows", () => {
    for (const row of allRows(data.licensesDeployment)) {
      expect(CHANNELS).toContain(row.channel);
      expect(row.licensesDeployed as number).toBeLessThanOrEqual(row.licensesSold as number);
      expect(row.licensesDeployed as number).toBeGreaterThanOrEqual(0);
      expect(row.processedDateTime).toBe("2026-11-23T00:00:00");
    }
    const definition = requireDataset("licensesUsage");
    let aliased = 0;
    for (const row of allRows(data.licensesUsage)) {
      if (row.licenseActive !== undefined) aliased++;
      const active = valueOf(definition, row, "licensesActive") as number;
      expect(active).toBeLessThanOrEqual(row.licensesQualified as number);
    }
    const workloads = new Set(allRows(data.licensesUsage).map((r) => r.workloadName));
    for (const name of ["Exchange", "SharePoint", "Teams"]) expect(workloads).toContain(name);
    expect(aliased).toBeGreaterThan(SIZES.licensesUsage / 10);
    expect(aliased).toBeLessThan(SIZES.licensesUsage / 2);
    expect(allRows(plain.licensesUsage).every((r) => r.licenseActive === undefined)).toBe(true);
  });

  it("uses real Azure meter combinations with fractional quantities", () => {
    const combos = new Set<string>();
    let fractional = 0;
    for (const row of allRows(plain.azureUsage)) {
      combos.add(
        `${row.meterCategory as string}/${row.meterSubcategory as string}/${row.meterUnit as string}`,
      );
      expect(typeof row.quantity).toBe("number");
      expect(row.quantity as number).toBeGreaterThanOrEqual(0);
      if (!Number.isInteger(row.quantity)) fractional++;
      expect(row.usageDate).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00$/);
      if (row.meterCategory === "Virtual Machines") expect(row.serviceType).toMatch(/^Standard_/);
      expect(row.reservationOrderId === "").toBe(row.reservationId === "");
    }
    expect(combos).toContain("Virtual Machines/D2s v3/1 Hour");
    expect(combos).toContain("Storage/General Block Blob/1 GB/Month");
    expect(fractional).toBeGreaterThan(SIZES.azureUsage / 2);
    expect(allRows(data.azureUsage).some((r) => r.CustomerTenantId !== undefined)).toBe(true);
  });

  it("keeps search's booleans consistent and sends mpnId as a number and searchDate date-only in some rows", () => {
    for (const row of allRows(data.search)) {
      if (row.referralSubmitted === true) expect(row.contactButtonClicked).toBe(true);
      if (row.contactButtonClicked === true) expect(row.detailsViewed).toBe(true);
      expect(row.searchDate).toMatch(DATES);
    }
    expect(allRows(data.search).some((r) => typeof r.mpnId === "number")).toBe(true);
    expect(allRows(data.search).some((r) => typeof r.mpnId === "string")).toBe(true);
    expect(allRows(data.search).some((r) => (r.searchDate as string).length === 10)).toBe(true);
    expect(allRows(plain.search).every((r) => typeof r.mpnId === "string")).toBe(true);
  });

  it("changes nothing but the quirks when they are switched off", () => {
    const definition = requireDataset("subscriptions");
    allRows(plain.subscriptions).forEach((row, i) => {
      const quirky = data.subscriptions.rows.get(i);
      for (const field of definition.fields) {
        if (field.name === "creationDate") {
          expect((quirky.creationDate as string).slice(0, 19)).toBe(row.creationDate);
        } else {
          expect(quirky[field.name]).toEqual(row[field.name]);
        }
      }
    });
  });
});

const CHANNELS = ["reseller", "direct"];

describe("simulated datasets: the route", () => {
  const data = createSimulatedDatasets({ seed: 21, end: END, rows: SIZES });
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(data);
  });
  afterAll(async () => {
    await h.server.close();
  });

  it.each(OTHER_DATASET_IDS)("%s: paging returns every row exactly once", async (id) => {
    const definition = requireDataset(id);
    const rows = await h.pageAll(id, {}, 250);
    expect(rows).toHaveLength(SIZES[id]);
    expect(rows).toEqual(allRows(data[id]));
    if (definition.key !== null) {
      expect(new Set(rows.map((row) => keyOf(definition, row))).size).toBe(SIZES[id]);
    }
    const first = await h.page(id, { top: "5" });
    expect(first.TotalCount).toBe(SIZES[id]);
    expect(first.Value).toHaveLength(5);
  });

  const GROUPINGS: Record<OtherDatasetId, Record<string, string>> = {
    search: { groupby: "keywordProduct,searchDate", aggregationLevel: "month" },
    subscriptions: { groupby: "subscriptionType,autoRenewEnabled" },
    indirectResellers: { groupby: "market,firstSubscriptionCreationDate", aggregationLevel: "week" },
    azureUsage: { groupby: "meterCategory,meterUnit" },
    licensesDeployment: { groupby: "productName,channel" },
    licensesUsage: { groupby: "workloadName,channel" },
  };

  it.each(OTHER_DATASET_IDS)(
    "%s: grouped buckets carry the measures and match the simulator's computation",
    async (id) => {
      const definition = requireDataset(id);
      const query = GROUPINGS[id];
      const groups = await h.pageAll(id, query, 40);
      expect(groups).toEqual(expectedResult(data[id], query));
      expect(groups).toEqual(h.sim.expectedFor(id, query));
      const groupby = (query.groupby ?? "").split(",");
      const measures = definition.fields.filter((f) => f.measure === true).map((f) => f.name);
      for (const group of groups) expect(Object.keys(group)).toEqual([...groupby, ...measures]);
      // The sums, computed here from the raw rows rather than by the simulator.
      const rows = allRows(data[id]);
      const total = (measure: string): number => groups.reduce((sum, g) => sum + Number(g[measure]), 0);
      switch (id) {
        case "search":
          expect(total("searchResultPageViews")).toBe(rows.length);
          expect(total("profileViews")).toBe(rows.filter((r) => r.detailsViewed === true).length);
          expect(total("referralCount")).toBe(rows.filter((r) => r.referralSubmitted === true).length);
          for (const g of groups)
            if (g.searchDate !== null) expect(g.searchDate).toMatch(/^\d{4}-\d{2}-01T00:00:00$/);
          break;
        case "subscriptions":
          expect(total("subscriptionCount")).toBe(rows.length);
          expect(total("licenseCount")).toBe(rows.reduce((s, r) => s + (r.licenseCount as number), 0));
          // The grouped example sends counts as strings and booleans keep their type.
          expect(typeof groups[0]?.subscriptionCount).toBe("string");
          expect(groups.map((g) => typeof g.autoRenewEnabled)).toContain("boolean");
          break;
        case "indirectResellers":
          expect(total("indirectResellerCount")).toBe(rows.length);
          expect(total("subscriptionCount")).toBe(
            rows.reduce((s, r) => s + (r.subscriptionCount as number), 0),
          );
          for (const g of groups) {
            const monday = new Date(`${g.firstSubscriptionCreationDate as string}Z`).getUTCDay();
            expect(monday).toBe(1);
          }
          break;
        case "azureUsage":
          expect(total("quantity")).toBeCloseTo(
            rows.reduce((s, r) => s + (r.quantity as number), 0),
            3,
          );
          break;
        case "licensesDeployment":
          expect(total("licensesSold")).toBe(rows.reduce((s, r) => s + (r.licensesSold as number), 0));
          break;
        case "licensesUsage":
          // Rows that spell it licenseActive count too.
          expect(total("licensesActive")).toBe(
            rows.reduce((s, r) => s + (valueOf(definition, r, "licensesActive") as number), 0),
          );
          break;
      }
    },
  );

  it.each<[OtherDatasetId, string, (row: Row) => boolean]>([
    ["subscriptions", "autoRenewEnabled eq true", (r) => r.autoRenewEnabled === true],
    [
      "subscriptions",
      "autoRenewEnabled ne true and creationDate ge '2025-01-01' and contains(customerName,'CO')",
      (r) =>
        r.autoRenewEnabled !== true &&
        (r.creationDate as string) >= "2025-01-01" &&
        (r.customerName as string).toLowerCase().includes("co"),
    ],
    [
      "search",
      "referralSubmitted eq true or detailsViewed eq false",
      (r) => r.referralSubmitted === true || r.detailsViewed === false,
    ],
    [
      "search",
      "searchDate ge cast('2026-06-01',Edm.DateTimeOffset)",
      (r) => (r.searchDate as string) >= "2026-06-01",
    ],
    [
      "azureUsage",
      "meterCategory eq 'Virtual Machines' and usageDate lt cast('2026-10-15T00:00:00Z', Edm.DateTimeOffset)",
      (r) => r.meterCategory === "Virtual Machines" && (r.usageDate as string) < "2026-10-15",
    ],
    [
      "indirectResellers",
      "market eq 'US' or (firstSubscriptionCreationDate ge cast('2024-01-01',Edm.DateTimeOffset) and firstSubscriptionCreationDate le cast('2024-04-01',Edm.DateTimeOffset))",
      (r) =>
        r.market === "US" ||
        ((r.firstSubscriptionCreationDate as string) >= "2024-01-01" &&
          (r.firstSubscriptionCreationDate as string) <= "2024-04-01T00:00:00"),
    ],
    [
      "licensesUsage",
      "channel eq 'reseller' and workloadName ne 'Teams'",
      (r) => r.channel === "reseller" && r.workloadName !== "Teams",
    ],
  ])("%s: filters %s", async (id, filter, predicate) => {
    const expected = allRows(data[id]).filter(predicate);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(SIZES[id]);
    const rows = await h.pageAll(id, { filter }, 300);
    expect(rows).toEqual(expected);
    expect(rows).toEqual(expectedResult(data[id], { filter }));
  });

  it.each(OTHER_DATASET_IDS)("%s: an unknown field is a 400 that names it", async (id) => {
    const res = await h.get(id, { filter: "noSuchField eq 'x' or alsoMissing eq 'y'" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Row;
    expect(body).toMatchObject({ code: "BadRequest", data: [], source: "PartnerCenter" });
    expect(body.description).toContain("unknown fields 'noSuchField', 'alsoMissing'");
    const grouped = await h.get(id, { groupby: "bogus" });
    expect(grouped.status).toBe(400);
    expect(((await grouped.json()) as Row).description).toContain("groupby: unknown field 'bogus'");
  });

  it.each<[OtherDatasetId, Record<string, string>, string]>([
    ["subscriptions", { filter: "autoRenewEnabled eq 'true'" }, "'autoRenewEnabled' is a boolean"],
    [
      "subscriptions",
      { filter: "customerName eq 'Contoso'" },
      "operator 'eq' is not supported on 'customerName' (supported: contains)",
    ],
    ["subscriptions", { filter: "trialEndDate eq '2025-01-01'" }, "it cannot be filtered"],
    ["subscriptions", { filter: "creationDate ge '2025-02-30'" }, "is not a date"],
    ["subscriptions", { groupby: "licenseCount" }, "'licenseCount' cannot be grouped"],
    [
      "licensesDeployment",
      { groupby: "channel", aggregationLevel: "day" },
      "aggregationLevel: not supported",
    ],
    ["azureUsage", { groupby: "meterCategory", aggregationLevel: "week" }, "needs a date field in groupby"],
    [
      "azureUsage",
      { filter: "contains(meterCategory,'Virtual')" },
      "contains() is not supported on 'meterCategory'",
    ],
    ["search", { filter: "searchDate ge cast('2026-01-01',Edm.String)" }, "Edm.DateTimeOffset only"],
  ])("%s: refuses %j", async (id, query, message) => {
    const res = await h.get(id, query);
    expect(res.status).toBe(400);
    expect(((await res.json()) as Row).description).toContain(message);
  });

  it("accepts the documented `Name` spelling for indirect resellers and the groupBy parameter spelling", async () => {
    const name = data.indirectResellers.rows.get(3).name as string;
    const page = await h.page("indirectResellers", { filter: `Name eq '${name.replaceAll("'", "''")}'` });
    expect(page.Value.map((r) => r.name)).toContain(name);
    const res = await fetch(new URL(`${requireDataset("subscriptions").path}?groupBy=status`, h.server.url), {
      headers: AUTH,
    });
    expect(((await res.json()) as Page).Value.map((g) => g.status)).toEqual([
      "ACTIVE",
      "DEPROVISIONED",
      "SUSPENDED",
    ]);
  });

  it.each(DATASETS.map((d) => d.id))("%s: refuses an app-only token and a missing one", async (id) => {
    const appOnly = await h.get(id, { top: "1" }, { Authorization: "Bearer app-only" });
    expect(appOnly.status).toBe(403);
    expect(((await appOnly.json()) as Row).description).toContain("App-only tokens are not accepted");
    const missing = await h.get(id, { top: "1" }, {});
    expect(missing.status).toBe(401);
    await missing.text();
  });

  it("writes the envelope each dataset's documentation shows", async () => {
    const subscriptions = await h.page("subscriptions", { groupby: "subscriptionType" });
    expect(Object.keys(subscriptions)).toEqual(["Value", "@nextLink", "TotalCount"]);
    expect(subscriptions["@nextLink"]).toBeNull();
    const licenses = await h.page("licensesDeployment", { top: "10" });
    expect(licenses["@nextLink"]).toBeNull();
    const search = await h.page("search", { top: "10" });
    expect(Object.keys(search)).toEqual(["Value", "TotalCount"]);
  });

  it("counts requests per dataset path", async () => {
    const before = h.sim.requestCount("azureUsage");
    const referralsBefore = h.sim.referralsRequestCount;
    await h.page("azureUsage", { top: "1" });
    await h.page("azureUsage", { top: "1", skip: "1" });
    expect(h.sim.requestCount("azureUsage")).toBe(before + 2);
    expect(h.sim.referralsRequestCount).toBe(referralsBefore);
  });
});

describe("simulated datasets: next links, faults and defaults", () => {
  const data = createSimulatedDatasets({ seed: 5, end: END, rows: SIZES });
  const harnesses: Harness[] = [];
  afterAll(async () => {
    await Promise.all(harnesses.map((x) => x.server.close()));
  });

  it("follows relative next links on a dataset's own path, carrying a cast filter", async () => {
    const h = await startHarness(data, { nextLinkMode: "relative" });
    harnesses.push(h);
    const path = requireDataset("azureUsage").path;
    const filter = "usageDate ge cast('2026-09-01',Edm.DateTimeOffset)";
    let link: string | null | undefined = `${path}?${new URLSearchParams({ filter, top: "200" }).toString()}`;
    const rows: Row[] = [];
    let pages = 0;
    for (; typeof link === "string" && pages < 100; pages++) {
      expect(link.startsWith(`${path}?`)).toBe(true);
      const body = (await (await fetch(new URL(link, h.server.url), { headers: AUTH })).json()) as Page;
      rows.push(...body.Value);
      link = body["@nextLink"];
    }
    const expected = expectedResult(data.azureUsage, { filter });
    expect(rows).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 200));
  });

  it("injects faults into dataset paths as into referrals", async () => {
    const h = await startHarness(data, { faults: "429:3@1,503@2" });
    harnesses.push(h);
    const throttled = await h.get("licensesUsage", { top: "5" });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBe("3");
    await throttled.text();
    const unavailable = await h.get("subscriptions", { top: "5" });
    expect(unavailable.status).toBe(503);
    await unavailable.text();
    expect((await h.page("subscriptions", { top: "5" })).Value).toHaveLength(5);
    h.sim.setFaults("short@1");
    const short = await h.page("search", { top: "100" });
    expect(short.Value.length).toBeLessThan(100);
    expect(short.TotalCount).toBe(SIZES.search);
  });

  it("generates datasets it was not given from seed 1 at their default sizes", async () => {
    const h = await startHarness({});
    harnesses.push(h);
    const page = await h.page("indirectResellers", { top: "1" });
    expect(page.TotalCount).toBe(DEFAULT_DATASET_ROWS.indirectResellers);
    expect(h.sim.source("indirectResellers").rows.get(0)).toEqual(
      createDatasetRows("indirectResellers", { size: DEFAULT_DATASET_ROWS.indirectResellers, seed: 1 }).get(
        0,
      ),
    );
  });

  it("parses its own canonical filter back to the same query", () => {
    const azure = requireDataset("azureUsage");
    const query = parseDatasetQuery(azure, {
      filter: "usageDate ge '2026-01-01' and (meterUnit eq '1 Hour' or meterUnit eq 'It''s')",
    });
    expect(query.filter).toBe(
      "usageDate ge cast('2026-01-01',Edm.DateTimeOffset) and (meterUnit eq '1 Hour' or meterUnit eq 'It''s')",
    );
    expect(parseDatasetQuery(azure, { filter: query.filter })).toEqual(query);
    const subscriptions = parseDatasetQuery(requireDataset("subscriptions"), {
      filter:
        "autoRenewEnabled EQ false and creationDate lt cast('2025-01-01T10:00:00+02:00',Edm.DateTimeOffset)",
    });
    expect(subscriptions.filter).toBe("autoRenewEnabled eq false and creationDate lt '2025-01-01T08:00:00'");
  });
});

describe("simulated datasets: the local cloud", () => {
  it("sizes every dataset, shares one seed, and lets keyed rows change", async () => {
    const cloud = await startLocalCloud({
      rows: 300,
      seed: 9,
      end: END,
      datasetRows: { subscriptions: 250, licensesUsage: 120 },
    });
    try {
      expect(cloud.partnerCenter.source("referrals").rows.size).toBe(300);
      expect(cloud.datasets.subscriptions.rows.size).toBe(250);
      expect(cloud.datasets.licensesUsage.rows.size).toBe(120);
      expect(cloud.datasets.azureUsage.rows.size).toBe(DEFAULT_DATASET_ROWS.azureUsage);
      expect(cloud.datasets.subscriptions.rows.get(0)).toEqual(
        createDatasetRows("subscriptions", { size: 250, seed: 9, end: END }).get(0),
      );
      const table = cloud.mutable("subscriptions");
      const first = table.get(0);
      const filter = `id eq '${first.id as string}'`;
      table.update([first.id as string], { status: "SUSPENDED", autoRenewEnabled: false });
      expect(cloud.partnerCenter.expectedFor("subscriptions", { filter })).toEqual([
        { ...first, status: "SUSPENDED", autoRenewEnabled: false },
      ]);
      expect(table.remove([first.id as string])).toBe(true);
      expect(cloud.partnerCenter.expectedFor("subscriptions", { filter })).toEqual([]);
      expect(() => cloud.mutable("search")).toThrow(/no key/);
    } finally {
      await cloud.close();
    }
  });
});

describe("referrals are unchanged", () => {
  it("generates the same first rows for seed 1 as before the other datasets existed", () => {
    const dataset = createDataset({ size: 100_000, seed: 1, end: END });
    const rows = Array.from({ length: 1000 }, (_, i) => dataset.get(i));
    expect(sha256(rows)).toBe("22a17f14905b95bb1091ba7ddd5f006191be548fcf32c43f637931f9d3560911");
    expect(createDatasetRows("referrals", { size: 100_000, seed: 1, end: END }).get(999)).toEqual(rows[999]);
  });

  it("serves the same response bodies, byte for byte", async () => {
    const sim = createPartnerCenterRoute({
      dataset: createDataset({ size: 5000, seed: 1, end: END }),
      tokenVerifier: verifier,
    });
    const server = await startSimulatorServer({ routes: [sim.route] });
    try {
      const bodies: Record<string, string> = {
        "top=1000": "f155b8a77327a1cf14ba388ca245e4a6c48b27597d80cae2e8e3b8af8cfaa43d",
        "filter=status%20eq%20'Won'&top=500&skip=100":
          "d07e38f0b5dffa61018831c77749aa830e252bf7c5bfc8ec87d75dd6743956e1",
        "groupby=customerMarket,createdDate&aggregationLevel=week":
          "9f08801e830756fa2bb1e252ad536db1b71fc0df81cecfda85c0da2311e66ee1",
        "groupby=status,wonDate": "fe4a43e2ec48a77993e68e2100fcf65c2e13f9d913aac6b53b71b67b28ee4eed",
      };
      for (const [query, hash] of Object.entries(bodies)) {
        const text = await (
          await fetch(`${server.url}/partner/v1/analytics/referrals?${query}`, { headers: AUTH })
        ).text();
        expect(createHash("sha256").update(text).digest("hex"), query).toBe(hash);
      }
    } finally {
      await server.close();
    }
  });
});
