import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DATASETS,
  requireDataset,
  type DatasetDefinition,
  type DatasetField,
} from "../../src/partnerCenter/datasets/index.js";
import {
  QueryValidationError,
  checkDatasetCloud,
  datasetIdSchema,
  formatFilter,
  parseFilter,
  queryDataset,
  toQueryParams,
  toQuerySpec,
  validateQuery,
  validateQuerySpec,
  type FilterNode,
  type FilterValue,
  type QueryInput,
} from "../../src/partnerCenter/query.js";

const referrals = requireDataset("referrals");
const subscriptions = requireDataset("subscriptions");
const azureUsage = requireDataset("azureUsage");
const indirectResellers = requireDataset("indirectResellers");

function refusal(run: () => unknown): QueryValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof QueryValidationError) return error;
    throw error;
  }
  throw new Error("expected a QueryValidationError");
}

/** A dataset with filterable numbers, which no documented dataset has yet: the grammar still takes them. */
const numbers: DatasetDefinition = {
  ...requireDataset("search"),
  fields: [
    { name: "name", type: "string", filter: ["eq", "ne", "contains"], groupBy: true, description: "x" },
    { name: "count", type: "integer", filter: ["eq", "ne", "gt", "lt"], groupBy: false, description: "x" },
    { name: "share", type: "decimal", filter: ["eq", "ge", "le"], groupBy: false, description: "x" },
  ],
};

describe("field names are the dataset's own", () => {
  it("refuses another dataset's field, naming the dataset and listing its fields", () => {
    const error = refusal(() => validateQuery({ filter: "wonDate gt '2024-01-01'" }, "subscriptions"));
    expect(error.field).toBe("filter");
    expect(error.message).toBe(
      `filter: unknown field 'wonDate' at position 0 in dataset subscriptions (known fields: ${subscriptions.fields.map((f) => f.name).join(", ")})`,
    );
  });

  it("refuses an unknown groupby field the same way", () => {
    const error = refusal(() => validateQuery({ groupby: "status,meterCategory" }, "subscriptions"));
    expect(error.message).toMatch(
      /^groupby: unknown field 'meterCategory' in dataset subscriptions \(known fields: customerTenantId, customerName, /,
    );
  });

  it.each([
    ["subscriptions", "autorenewenabled eq true", "did you mean 'autoRenewEnabled'?"],
    ["indirectResellers", "Name eq 'Contoso'", "in dataset indirectResellers (did you mean 'name'?)"],
    ["azureUsage", "CustomerTenantId eq 'x'", "did you mean 'customerTenantId'?"],
    [
      "indirectResellers",
      "latestSubscriptionDeprovisionedEndDate gt '2024-01-01'",
      "did you mean 'latestSubscriptionDeprovisionedDate'?",
    ],
  ] as const)("%s: %s -> a hint at the documented name", (dataset, filter, hint) => {
    expect(refusal(() => validateQuery({ filter }, dataset)).message).toContain(hint);
  });

  it("hints at the documented name of an alias in groupby", () => {
    expect(refusal(() => validateQuery({ groupby: "licenseActive" }, "licensesUsage")).message).toBe(
      "groupby: unknown field 'licenseActive' in dataset licensesUsage (did you mean 'licensesActive'?)",
    );
  });

  it("keeps referrals messages exactly as they were", () => {
    expect(refusal(() => parseFilter("Status eq 'Won'")).message).toBe(
      "filter: unknown field 'Status' at position 0 (did you mean 'status'?)",
    );
    expect(refusal(() => validateQuery({ groupby: "autoRenewEnabled" })).message).toBe(
      `groupby: unknown field 'autoRenewEnabled' (known fields: ${referrals.fields.map((f) => f.name).join(", ")})`,
    );
  });
});

describe("operators per field, from the registry", () => {
  it("subscriptions customerName takes contains() only", () => {
    expect(
      refusal(() => validateQuery({ filter: "customerName eq 'Contoso'" }, "subscriptions")).message,
    ).toBe(
      "filter: operator 'eq' is not allowed on 'customerName' in dataset subscriptions (allowed on it: contains())",
    );
    expect(validateQuery({ filter: "contains(customerName,'Contoso')" }, "subscriptions").filter).toBe(
      "contains(customerName,'Contoso')",
    );
  });

  it("subscriptions productName takes eq, ne and contains(); status no contains()", () => {
    expect(() => validateQuery({ filter: "productName eq 'Azure plan'" }, "subscriptions")).not.toThrow();
    expect(() => validateQuery({ filter: "contains(productName,'Azure')" }, "subscriptions")).not.toThrow();
    expect(refusal(() => validateQuery({ filter: "contains(status,'ACT')" }, "subscriptions")).message).toBe(
      "filter: contains() is not allowed on 'status' in dataset subscriptions (allowed on it: eq, ne)",
    );
  });

  it("refuses fields the dataset does not filter, listing those it does", () => {
    const error = refusal(() => validateQuery({ filter: "trialEndDate gt '2024-01-01'" }, "subscriptions"));
    expect(error.message).toMatch(
      /^filter: 'trialEndDate' cannot be filtered in dataset subscriptions \(filterable fields: customerTenantId, /,
    );
    expect(error.message).not.toContain("licenseCount");
  });

  it("refuses ordering on a text field of another dataset with that dataset's wording", () => {
    expect(refusal(() => validateQuery({ filter: "market gt 'US'" }, "indirectResellers")).message).toBe(
      "filter: operator 'gt' is not allowed on 'market' in dataset indirectResellers (allowed on it: eq, ne)",
    );
  });

  it("license datasets take eq/ne on their terms and nothing on measures", () => {
    expect(validateQuery({ filter: "channel eq 'reseller'" }, "licensesDeployment").filter).toBe(
      "channel eq 'reseller'",
    );
    expect(
      refusal(() => validateQuery({ filter: "contains(channel,'res')" }, "licensesDeployment")).message,
    ).toContain("contains() is not allowed on 'channel' in dataset licensesDeployment");
    expect(
      refusal(() => validateQuery({ filter: "licensesSold gt 5" }, "licensesDeployment")).message,
    ).toContain("'licensesSold' cannot be filtered in dataset licensesDeployment");
  });
});

describe("literals by field type", () => {
  it("booleans are unquoted true/false and come back the same", () => {
    const q = validateQuery(
      { filter: "autoRenewEnabled EQ TRUE and autoRenewEnabled ne false" },
      "subscriptions",
    );
    expect(q.filter).toBe("autoRenewEnabled eq true and autoRenewEnabled ne false");
    expect(q.filterAst).toEqual({
      kind: "and",
      left: { kind: "compare", field: "autoRenewEnabled", op: "eq", value: true },
      right: { kind: "compare", field: "autoRenewEnabled", op: "ne", value: false },
    });
    expect(parseFilter(q.filter ?? "", subscriptions)).toEqual(q.filterAst);
  });

  it.each([
    [
      "autoRenewEnabled eq 'true'",
      "'autoRenewEnabled' is a boolean field in dataset subscriptions: write true or false without quotes",
    ],
    ["autoRenewEnabled eq yes", "expected true or false at position 20, found 'yes'"],
    [
      "autoRenewEnabled gt true",
      "operator 'gt' is not allowed on 'autoRenewEnabled' in dataset subscriptions (allowed on it: eq, ne)",
    ],
    ["contains(autoRenewEnabled,'t')", "contains() is not allowed on 'autoRenewEnabled'"],
    ["status eq true", "expected a single-quoted value at position 10, found 'true'"],
  ])("refuses %s", (filter, fragment) => {
    expect(refusal(() => validateQuery({ filter }, "subscriptions")).message).toContain(fragment);
  });

  it("cast datasets write dates as cast(…,Edm.DateTimeOffset) and read both forms", () => {
    const fromQuoted = validateQuery(
      { filter: "usageDate ge '2018-01-01' and usageDate le '2018-04-01T12:00:00'" },
      "azureUsage",
    );
    expect(fromQuoted.filter).toBe(
      "usageDate ge cast('2018-01-01',Edm.DateTimeOffset) and usageDate le cast('2018-04-01T12:00:00',Edm.DateTimeOffset)",
    );
    // The documentation's own example form, with a space after the comma.
    const fromCast = validateQuery(
      {
        filter:
          "meterCategory eq 'Data Management' or (usageDate le cast('2018-01-01', Edm.DateTimeOffset) and usageDate le CAST('2018-04-01',edm.datetimeoffset))",
      },
      "azureUsage",
    );
    expect(fromCast.filter).toBe(
      "meterCategory eq 'Data Management' or usageDate le cast('2018-01-01',Edm.DateTimeOffset) and usageDate le cast('2018-04-01',Edm.DateTimeOffset)",
    );
    expect(validateQuery({ filter: fromCast.filter }, "azureUsage").filterAst).toEqual(fromCast.filterAst);
    expect(toQueryParams(fromCast).filter).toBe(fromCast.filter);
  });

  it("quoted datasets (referrals too) read a cast date and write it quoted", () => {
    expect(validateQuery({ filter: "createdDate gt cast('2024-01-01',Edm.DateTimeOffset)" }).filter).toBe(
      "createdDate gt '2024-01-01'",
    );
    expect(
      validateQuery(
        { filter: "creationDate ge cast('2024-01-01T10:00:00',Edm.DateTimeOffset)" },
        "subscriptions",
      ).filter,
    ).toBe("creationDate ge '2024-01-01T10:00:00'");
  });

  it.each([
    ["usageDate le cast('2018-02-30',Edm.DateTimeOffset)", "filter: '2018-02-30' is not a date"],
    [
      "usageDate le cast('2018-01-01',Edm.String)",
      "expected Edm.DateTimeOffset at position 31, found 'Edm.String'",
    ],
    ["usageDate le cast('2018-01-01')", "expected ',' at position 30"],
    ["usageDate le cast(2018,Edm.DateTimeOffset)", "expected a single-quoted value at position 18"],
    [
      "usageDate le 2018",
      "write 'YYYY-MM-DD', 'YYYY-MM-DDTHH:mm:ss' or cast('YYYY-MM-DD',Edm.DateTimeOffset)",
    ],
    [
      "contains(usageDate,'2018')",
      "contains() is not allowed on 'usageDate' in dataset azureUsage (allowed on it: eq, ne, gt, ge, lt, le)",
    ],
  ])("refuses %s", (filter, fragment) => {
    expect(refusal(() => validateQuery({ filter }, "azureUsage")).message).toContain(fragment);
  });

  it("numbers are unquoted and kept as numbers", () => {
    const q = validateQuery({ filter: "count gt -3 and share ge 0.25 or share le 10" }, numbers);
    expect(q.filter).toBe("count gt -3 and share ge 0.25 or share le 10");
    expect(parseFilter(q.filter ?? "", numbers)).toEqual({
      kind: "or",
      left: {
        kind: "and",
        left: { kind: "compare", field: "count", op: "gt", value: -3 },
        right: { kind: "compare", field: "share", op: "ge", value: 0.25 },
      },
      right: { kind: "compare", field: "share", op: "le", value: 10 },
    });
    expect(formatFilter({ kind: "compare", field: "share", op: "eq", value: 1e-7 }, numbers)).toBe(
      "share eq 0.0000001",
    );
    expect(refusal(() => validateQuery({ filter: "count eq '3'" }, numbers)).message).toContain(
      "'count' is a number field in dataset search: write a whole number without quotes",
    );
    expect(refusal(() => validateQuery({ filter: "count eq 1.5" }, numbers)).message).toContain(
      "expected a whole number at position 9, found '1.5'",
    );
    expect(refusal(() => validateQuery({ filter: "share eq 1e5" }, numbers)).message).toContain(
      "expected a number at position 9",
    );
  });
});

describe("groupby and aggregationLevel per dataset", () => {
  it("groups only by groupable fields", () => {
    expect(validateQuery({ groupby: "subscriptionType,autoRenewEnabled" }, "subscriptions").groupby).toEqual([
      "subscriptionType",
      "autoRenewEnabled",
    ]);
    expect(refusal(() => validateQuery({ groupby: "subscriptionCount" }, "subscriptions")).message).toMatch(
      /^groupby: 'subscriptionCount' cannot be grouped by in dataset subscriptions \(groupable fields: customerTenantId, /,
    );
    expect(refusal(() => validateQuery({ groupby: "trialEndDate" }, "subscriptions")).field).toBe("groupby");
  });

  it.each(["licensesDeployment", "licensesUsage"] as const)("refuses aggregationLevel for %s", (dataset) => {
    const error = refusal(() => validateQuery({ groupby: "channel", aggregationLevel: "month" }, dataset));
    expect(error.field).toBe("aggregationLevel");
    expect(error.message).toBe(
      `aggregationLevel: is not offered by dataset ${dataset} (it has no date field to group by)`,
    );
    expect(validateQuery({ groupby: "channel,productName" }, dataset).groupby).toEqual([
      "channel",
      "productName",
    ]);
  });

  it("needs one of the dataset's own date fields in groupby", () => {
    expect(
      validateQuery({ groupby: "meterCategory,usageDate", aggregationLevel: "Week" }, "azureUsage")
        .aggregationLevel,
    ).toBe("week");
    expect(
      refusal(() => validateQuery({ groupby: "meterCategory", aggregationLevel: "day" }, "azureUsage"))
        .message,
    ).toBe("aggregationLevel: needs a date field in groupby (date fields of dataset azureUsage: usageDate)");
    expect(refusal(() => validateQuery({ aggregationLevel: "day" })).message).toBe(
      `aggregationLevel: needs a date field in groupby (date fields: ${referrals.fields
        .filter((f) => f.type === "timestamp")
        .map((f) => f.name)
        .join(", ")})`,
    );
  });
});

describe("the validated query names its dataset", () => {
  it("sets the dataset, referrals by default, and validates a stored query for its dataset", () => {
    expect(validateQuery({}).dataset).toBe(referrals);
    expect(queryDataset(validateQuery({ filter: "status eq 'Won'" }))).toBe(referrals);
    const q = validateQuery({ filter: "autoRenewEnabled eq true", groupby: ["status"] }, subscriptions);
    expect(q.dataset).toBe(subscriptions);
    expect({ ...q }.dataset).toBe(subscriptions);
    const again = validateQuerySpec(toQuerySpec(q), "subscriptions");
    expect(again.filter).toBe(q.filter);
    expect(again.dataset).toBe(subscriptions);
    // The same stored query is not a referrals query.
    expect(refusal(() => validateQuerySpec(toQuerySpec(q))).message).toContain(
      "unknown field 'autoRenewEnabled'",
    );
  });

  it("keeps the stored form exactly {filter, groupby, aggregationLevel}", () => {
    const q = validateQuery({ filter: "usageDate ge '2024-01-01'" }, azureUsage);
    expect(toQuerySpec(q)).toEqual({
      filter: "usageDate ge cast('2024-01-01',Edm.DateTimeOffset)",
      groupby: null,
      aggregationLevel: null,
    });
  });
});

describe("clouds and dataset ids", () => {
  it("refuses a dataset the configured cloud does not offer, naming the cloud", () => {
    const error = refusal(() => {
      checkDatasetCloud("licensesUsage", "usgov");
    });
    expect(error.field).toBe("dataset");
    expect(error.message).toBe(
      "dataset: 'licensesUsage' is not offered in the usgov cloud (PARTNER_CENTER_CLOUD=usgov); Partner Center documents it for: global",
    );
    expect(() => {
      checkDatasetCloud("licensesUsage", "global");
    }).not.toThrow();
    expect(() => {
      checkDatasetCloud(referrals, "usgov");
    }).not.toThrow();
    expect(() => {
      checkDatasetCloud(indirectResellers, "usgov");
    }).not.toThrow();
  });

  it("names every known dataset when an id is unknown", () => {
    const result = datasetIdSchema.safeParse("Subscription");
    expect(result.success).toBe(false);
    const message = result.error?.issues[0]?.message ?? "";
    expect(message).toContain('unknown dataset "Subscription"');
    for (const d of DATASETS) expect(message).toContain(d.id);
    expect(datasetIdSchema.safeParse("AzureUsage").error?.issues[0]?.message).toContain(
      "did you mean 'azureUsage'?",
    );
    expect(datasetIdSchema.parse("azureUsage")).toBe("azureUsage");
  });
});

// -------------------------------------------------------------------------------------------------
// parseFilter(formatFilter(n, d), d) == n for every dataset

const TEXT_UNITS = fc.constantFrom(
  "a",
  "Z",
  "'",
  "''",
  " ",
  ",",
  "(",
  ")",
  "é",
  "株",
  "😀",
  "-",
  "0",
  "and",
  "or",
  "cast(",
  "eq",
);

function dateLiteral(): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.date({
        min: new Date("1900-01-01T00:00:00Z"),
        max: new Date("2099-12-31T23:59:59Z"),
        noInvalidDate: true,
      }),
      fc.boolean(),
    )
    .map(([d, full]) => d.toISOString().slice(0, full ? 19 : 10));
}

function valueOf(field: DatasetField): fc.Arbitrary<FilterValue> {
  switch (field.type) {
    case "boolean":
      return fc.boolean();
    case "integer":
      return fc.integer({ min: -1_000_000_000, max: 1_000_000_000 });
    case "decimal":
      return fc
        .tuple(fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }), fc.integer({ min: 0, max: 9 }))
        .map(([mantissa, scale]) => mantissa / 10 ** scale);
    case "timestamp":
    case "date":
      return dateLiteral();
    case "string":
      return fc.string({ unit: TEXT_UNITS, maxLength: 6 });
  }
}

function leaves(dataset: DatasetDefinition): fc.Arbitrary<FilterNode>[] {
  const out: fc.Arbitrary<FilterNode>[] = [];
  for (const field of dataset.fields) {
    const ops = field.filter.filter((op) => op !== "contains");
    if (ops.length > 0)
      out.push(
        fc.record({
          kind: fc.constant("compare" as const),
          field: fc.constant(field.name),
          op: fc.constantFrom(...ops),
          value: valueOf(field),
        }),
      );
    if (field.filter.includes("contains"))
      out.push(
        fc.record({
          kind: fc.constant("contains" as const),
          field: fc.constant(field.name),
          value: fc.string({ unit: TEXT_UNITS, maxLength: 6 }),
        }),
      );
  }
  return out;
}

function filters(dataset: DatasetDefinition): fc.Arbitrary<FilterNode> {
  const leaf = fc.oneof(...leaves(dataset));
  return fc.letrec<{ node: FilterNode }>((tie) => ({
    node: fc.oneof(
      { maxDepth: 4, depthSize: "small" },
      leaf,
      fc.record({
        kind: fc.constantFrom("and" as const, "or" as const),
        left: tie("node"),
        right: tie("node"),
      }),
    ),
  })).node;
}

describe.each(
  [...DATASETS, numbers].map((d, i) => [i === DATASETS.length ? "numbers (synthetic)" : d.id, d] as const),
)("round trip of %s filters", (_name, dataset) => {
  it("parseFilter(formatFilter(n)) gives back n, and the canonical text is a fixed point", () => {
    fc.assert(
      fc.property(filters(dataset), (node) => {
        const text = formatFilter(node, dataset);
        const parsed = parseFilter(text, dataset);
        expect(parsed).toEqual(node);
        expect(formatFilter(parsed, dataset)).toBe(text);
        const input: QueryInput = { filter: text };
        expect(validateQuery(input, dataset).filter).toBe(text);
      }),
      { numRuns: 150 },
    );
  });
});
