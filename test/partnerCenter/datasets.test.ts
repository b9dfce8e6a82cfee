import { describe, expect, it } from "vitest";
import { MAX_PAGE_SIZE } from "../../src/partnerCenter/client.js";
import {
  DATASETS,
  DATASET_IDS,
  FILTER_OPERATORS,
  aggregationDateFields,
  changeFeedFields,
  columnNames,
  datasetById,
  datasetField,
  isDateType,
  isOrderedType,
  measureFields,
  requireDataset,
  type DatasetDefinition,
  type DatasetField,
  type FilterOperator,
} from "../../src/partnerCenter/datasets/index.js";
import { AGGREGATION_LEVELS, DATE_FIELDS, REFERRAL_FIELDS } from "../../src/partnerCenter/fields.js";
import { QueryValidationError, parseFilter, validateQuery } from "../../src/partnerCenter/query.js";

const ORDERING_ONLY: readonly FilterOperator[] = ["gt", "ge", "lt", "le"];

function field(dataset: DatasetDefinition, name: string): DatasetField {
  const found = datasetField(dataset, name);
  if (found === undefined) throw new Error(`${dataset.id} has no field ${name}`);
  return found;
}

function names(fields: readonly DatasetField[]): string[] {
  return fields.map((f) => f.name);
}

describe.each(DATASETS.map((d) => [d.id, d] as const))("dataset %s is self-consistent", (_id, dataset) => {
  it("has field names unique even ignoring case", () => {
    const lower = dataset.fields.map((f) => f.name.toLowerCase());
    expect(new Set(lower).size).toBe(lower.length);
  });

  it("has a key of existing, non-measure fields, or a reason for having none", () => {
    if (dataset.key === null) {
      expect(dataset.noKeyReason?.trim()).toBeTruthy();
      return;
    }
    expect(dataset.noKeyReason).toBeUndefined();
    expect(dataset.key.length).toBeGreaterThan(0);
    expect(new Set(dataset.key).size).toBe(dataset.key.length);
    for (const name of dataset.key) {
      expect(datasetField(dataset, name), name).toBeDefined();
      expect(field(dataset, name).measure, name).not.toBe(true);
    }
  });

  it("compares, in its change feed, existing fields outside its key that change with the row", () => {
    const feed = changeFeedFields(dataset);
    if (dataset.key === null) {
      expect(feed).toBeNull();
      expect(dataset.comparedFields).toBeUndefined();
      return;
    }
    expect(names(feed!.key)).toEqual(dataset.key);
    expect(feed!.compared.length).toBeGreaterThan(0);
    for (const f of feed!.compared) {
      expect(dataset.fields, f.name).toContain(f);
      expect(dataset.key, f.name).not.toContain(f.name);
      expect(f.volatile, f.name).not.toBe(true);
      expect(f.groupedOnly, f.name).not.toBe(true);
    }
    // In column order, so the feed's columns read like the snapshot's.
    const order = names(feed!.compared).map((n) => columnNames(dataset).indexOf(n));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it("offers operators only where the field type allows them", () => {
    for (const f of dataset.fields) {
      expect(new Set(f.filter).size, f.name).toBe(f.filter.length);
      for (const op of f.filter) expect(FILTER_OPERATORS, f.name).toContain(op);
      if (f.filter.some((op) => ORDERING_ONLY.includes(op))) expect(isOrderedType(f.type), f.name).toBe(true);
      if (f.filter.includes("contains")) expect(f.type, f.name).toBe("string");
      if (f.type === "boolean") expect([...f.filter].sort(), f.name).toEqual(["eq", "ne"]);
    }
  });

  it("ties aggregationLevel to its date fields: groupable dates exist iff levels are offered, and those are the filterable dates", () => {
    const dates = dataset.fields.filter((f) => isDateType(f.type));
    const groupableDates = names(dates.filter((f) => f.groupBy));
    const filterableDates = names(dates.filter((f) => f.filter.length > 0));
    if (dataset.aggregationLevels.length === 0) {
      expect(groupableDates).toEqual([]);
      expect(aggregationDateFields(dataset)).toEqual([]);
    } else {
      expect(groupableDates.length).toBeGreaterThan(0);
      expect(filterableDates).toEqual(groupableDates);
      expect(names(aggregationDateFields(dataset))).toEqual(groupableDates);
      expect(new Set(dataset.aggregationLevels).size).toBe(dataset.aggregationLevels.length);
    }
  });

  it("has numeric measures that are neither filterable nor groupable, and at least one groupable field", () => {
    for (const f of measureFields(dataset)) {
      expect(["integer", "decimal"], f.name).toContain(f.type);
      expect(f.filter, f.name).toEqual([]);
      expect(f.groupBy, f.name).toBe(false);
    }
    for (const f of dataset.fields) if (f.groupedOnly === true) expect(f.measure, f.name).toBe(true);
    expect(dataset.fields.some((f) => f.groupBy)).toBe(true);
  });

  it("has aliases that differ from every field name and from each other", () => {
    const fieldNames = new Set(dataset.fields.map((f) => f.name.toLowerCase()));
    const seen = new Set<string>();
    for (const f of dataset.fields) {
      for (const alias of f.aliases ?? []) {
        // A case-only alias (CustomerTenantId) may match its own field ignoring case, nothing else.
        expect(alias, f.name).not.toBe(f.name);
        if (alias.toLowerCase() !== f.name.toLowerCase())
          expect(fieldNames.has(alias.toLowerCase())).toBe(false);
        expect(seen.has(alias.toLowerCase()), alias).toBe(false);
        seen.add(alias.toLowerCase());
      }
    }
  });

  it("names a learn.microsoft.com page for its facts and a description for every field", () => {
    expect(dataset.sources.length).toBeGreaterThan(0);
    for (const source of dataset.sources) {
      expect(source.title.trim()).not.toBe("");
      expect(new URL(source.url).protocol).toBe("https:");
    }
    expect(dataset.sources.some((s) => new URL(s.url).hostname === "learn.microsoft.com")).toBe(true);
    for (const f of dataset.fields) {
      expect(f.description.trim(), f.name).not.toBe("");
      expect(f.description, f.name).not.toContain("\n");
    }
  });

  it("has an analytics path, a plain file stem, supported clouds and the documented page size", () => {
    expect(dataset.path).toMatch(/^\/partner\/v1\/analytics\/[a-z/]+[a-z]$/);
    expect(dataset.fileStem).toMatch(/^[a-z][A-Za-z0-9]*$/);
    expect(dataset.clouds.length).toBeGreaterThan(0);
    for (const cloud of dataset.clouds) expect(["global", "usgov"]).toContain(cloud);
    expect(dataset.maxPageSize).toBe(10_000);
  });
});

describe("the registry", () => {
  it("holds every dataset id once, in DATASET_IDS order", () => {
    expect(DATASETS.map((d) => d.id)).toEqual([...DATASET_IDS]);
  });

  it("gives every dataset its own path and file stem", () => {
    expect(new Set(DATASETS.map((d) => d.path)).size).toBe(DATASETS.length);
    expect(new Set(DATASETS.map((d) => d.fileStem.toLowerCase())).size).toBe(DATASETS.length);
  });

  it("has the documented number of fields per dataset", () => {
    const counts = Object.fromEntries(DATASETS.map((d) => [d.id, d.fields.length]));
    expect(counts).toEqual({
      referrals: 16,
      search: 15,
      subscriptions: 26,
      indirectResellers: 15,
      azureUsage: 14,
      licensesDeployment: 10,
      licensesUsage: 12,
    });
  });

  it("has the decided keys", () => {
    const keys = Object.fromEntries(DATASETS.map((d) => [d.id, d.key]));
    expect(keys).toEqual({
      referrals: ["id"],
      search: null,
      subscriptions: ["id"],
      indirectResellers: ["id"],
      azureUsage: null,
      licensesDeployment: ["customerTenantId", "productId", "channel"],
      licensesUsage: ["customerTenantId", "productId", "workloadCode", "channel"],
    });
  });

  it("compares what identifies a change: a referral's status and dates, every other field elsewhere but the processing time", () => {
    const compared = Object.fromEntries(
      DATASETS.map((d) => [d.id, changeFeedFields(d)?.compared.map((f) => f.name) ?? null]),
    );
    expect(compared.referrals).toEqual(["status", ...DATE_FIELDS]);
    expect(compared.search).toBeNull();
    expect(compared.azureUsage).toBeNull();
    expect(compared.subscriptions).toHaveLength(24); // 26 fields less id and the grouped-only subscriptionCount
    expect(compared.subscriptions).toContain("licenseCount");
    expect(compared.indirectResellers).toHaveLength(14);
    expect(compared.licensesDeployment).toEqual([
      "serviceCode",
      "serviceName",
      "customerName",
      "productName",
      "licensesDeployed",
      "licensesSold",
    ]);
    expect(compared.licensesUsage).not.toContain("processedDateTime");
    expect(compared.licensesUsage).toContain("licensesActive");
  });

  it("looks datasets up by exact id", () => {
    expect(datasetById("subscriptions")?.path).toBe("/partner/v1/analytics/subscriptions");
    expect(datasetById("nope")).toBeUndefined();
    expect(datasetById("Subscriptions")).toBeUndefined();
    expect(requireDataset("azureUsage").path).toBe("/partner/v1/analytics/usage/azure");
  });

  it("requireDataset names every known id when the id is unknown", () => {
    expect(() => requireDataset("nope")).toThrow(Error);
    expect(() => requireDataset("nope")).toThrow(/unknown dataset "nope"/);
    let message = "";
    try {
      requireDataset("nope");
    } catch (error) {
      message = (error as Error).message;
    }
    for (const id of DATASET_IDS) expect(message).toContain(id);
    expect(() => requireDataset("AzureUsage")).toThrow(/did you mean 'azureUsage'\?/);
  });
});

describe("referrals keeps today's facts", () => {
  const referrals = requireDataset("referrals");

  it("has REFERRAL_FIELDS as its columns and DATE_FIELDS as its aggregation dates", () => {
    expect(columnNames(referrals)).toEqual([...REFERRAL_FIELDS]);
    expect(names(referrals.fields.filter((f) => isDateType(f.type)))).toEqual([...DATE_FIELDS]);
    expect(names(aggregationDateFields(referrals))).toEqual([...DATE_FIELDS]);
    expect(referrals.aggregationLevels).toEqual([...AGGREGATION_LEVELS]);
  });

  it("keeps its path, file stem, clouds, literal form and page size", () => {
    expect(referrals.path).toBe("/partner/v1/analytics/referrals");
    expect(referrals.fileStem).toBe("referrals");
    expect(referrals.clouds).toEqual(["global", "usgov"]);
    expect(referrals.dateLiteral).toBe("quoted");
    expect(referrals.maxPageSize).toBe(MAX_PAGE_SIZE);
    expect(measureFields(referrals)).toEqual([]);
  });

  /** Whether today's filter parser accepts `op` on `name`, with a value that suits the field. */
  function parserAccepts(name: string, op: FilterOperator): boolean {
    const value = (DATE_FIELDS as readonly string[]).includes(name) ? "'2024-01-01'" : "'x'";
    const text = op === "contains" ? `contains(${name},${value})` : `${name} ${op} ${value}`;
    try {
      parseFilter(text);
      return true;
    } catch (error) {
      if (error instanceof QueryValidationError) return false;
      throw error;
    }
  }

  it.each(REFERRAL_FIELDS.map((name) => [name]))(
    "offers on %s exactly the operators the filter parser accepts, and groupby",
    (name) => {
      const f = field(referrals, name);
      const accepted = FILTER_OPERATORS.filter((op) => parserAccepts(name, op));
      expect([...f.filter].sort()).toEqual([...accepted].sort());
      expect(f.groupBy).toBe(true);
      expect(() => validateQuery({ groupby: [name] })).not.toThrow();
    },
  );
});

describe("per-dataset facts from the documentation", () => {
  it("subscriptions: the filter table's operators, the groupby table's fields, the two measures", () => {
    const subs = requireDataset("subscriptions");
    expect(field(subs, "customerName").filter).toEqual(["contains"]);
    expect(field(subs, "friendlyName").filter).toEqual(["contains"]);
    expect([...field(subs, "productName").filter].sort()).toEqual(["contains", "eq", "ne"]);
    expect(field(subs, "partnerName").filter).toEqual(["eq", "ne"]);
    expect(field(subs, "autoRenewEnabled").type).toBe("boolean");
    expect(names(subs.fields.filter((f) => f.filter.length === 0))).toEqual([
      "trialEndDate",
      "licenseCount",
      "subscriptionCount",
      "churnRisk",
      "billingCycleName",
    ]);
    expect(subs.fields.filter((f) => f.groupBy)).toHaveLength(21);
    expect(names(measureFields(subs))).toEqual(["licenseCount", "subscriptionCount"]);
    const columns = columnNames(subs);
    expect(columns.indexOf("creationDate")).toBe(columns.indexOf("effectiveStartDate") - 1);
    expect(columns.slice(-2)).toEqual(["churnRisk", "billingCycleName"]);
  });

  it("indirectResellers: decimal counts, the example's alias, the year-1 sentinel and cast literals", () => {
    const resellers = requireDataset("indirectResellers");
    expect(resellers.path).toBe("/partner/v1/analytics/indirectresellers");
    expect(measureFields(resellers).map((f) => [f.name, f.type])).toEqual([
      ["subscriptionCount", "decimal"],
      ["licenseCount", "decimal"],
      ["indirectResellerCount", "decimal"],
    ]);
    expect(field(resellers, "latestSubscriptionDeprovisionedDate").aliases).toEqual([
      "latestSubscriptionDeprovisionedEndDate",
    ]);
    expect(resellers.fields.filter((f) => f.filter.length > 0)).toHaveLength(12);
    expect(resellers.fields.filter((f) => f.filter.includes("gt"))).toHaveLength(8);
    expect(resellers.nullSentinels).toEqual(["0001-01-01T00:00:00"]);
    expect(resellers.dateLiteral).toBe("cast");
  });

  it("azureUsage: quantity is a measure present in ungrouped rows, usageDate the only date", () => {
    const azure = requireDataset("azureUsage");
    const quantity = field(azure, "quantity");
    expect(quantity).toMatchObject({ type: "decimal", measure: true, groupBy: false });
    expect(quantity.groupedOnly).toBeUndefined();
    expect(field(azure, "customerTenantId").aliases).toEqual(["CustomerTenantId"]);
    expect(columnNames(azure).indexOf("consumptionMeterId")).toBe(
      columnNames(azure).indexOf("reservationId") + 1,
    );
    expect(names(aggregationDateFields(azure))).toEqual(["usageDate"]);
    expect(azure.fields.filter((f) => f.groupBy)).toHaveLength(13);
    expect(azure.dateLiteral).toBe("cast");
  });

  it("search: four grouped-only integer measures and eleven groupable fields", () => {
    const search = requireDataset("search");
    expect(measureFields(search).map((f) => [f.name, f.type, f.groupedOnly])).toEqual([
      ["searchResultPageViews", "integer", true],
      ["contactClicks", "integer", true],
      ["referralCount", "integer", true],
      ["profileViews", "integer", true],
    ]);
    expect(columnNames(search).slice(0, 11)).toEqual(names(search.fields.filter((f) => f.groupBy)));
    expect(field(search, "mpnId").type).toBe("string");
    expect(field(search, "searchDate").filter).toContain("ge");
  });

  it("license datasets: the commercial endpoints, no aggregationLevel, global only", () => {
    const deployment = requireDataset("licensesDeployment");
    const usage = requireDataset("licensesUsage");
    expect(deployment.path).toBe("/partner/v1/analytics/commercial/deployment/license");
    expect(usage.path).toBe("/partner/v1/analytics/commercial/usage/license");
    for (const dataset of [deployment, usage]) {
      expect(dataset.aggregationLevels).toEqual([]);
      expect(dataset.clouds).toEqual(["global"]);
      expect(field(dataset, "processedDateTime")).toMatchObject({
        type: "timestamp",
        filter: [],
        groupBy: false,
      });
    }
    expect(names(measureFields(deployment))).toEqual(["licensesDeployed", "licensesSold"]);
    expect(names(measureFields(usage))).toEqual(["licensesActive", "licensesQualified"]);
    expect(field(usage, "licensesActive").aliases).toEqual(["licenseActive"]);
  });
});
