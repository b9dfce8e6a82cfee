import { parse } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { isExportError } from "../../src/export/errors.js";
import type { Manifest } from "../../src/export/manifest.js";
import { COLUMN_TYPES } from "../../src/export/schema.js";
import {
  DATASETS,
  changeFeedFields,
  requireDataset,
  type DatasetDefinition,
  type DatasetField,
} from "../../src/partnerCenter/datasets/index.js";
import {
  paged,
  queryOf,
  sampleRows,
  sampleValue,
  startStubFixture,
  stubClient,
  type Row,
  type StubFixture,
} from "./datasetStub.js";

/**
 * Exports of every dataset besides referrals, fed by a stub client with rows built from the registry:
 * the files carry the dataset's name and columns, values are typed in every format, and the quirks
 * the documentation shows (aliases, "none" sentinels, numbers as strings and the other way round)
 * are normalised.
 */
const OTHERS = DATASETS.filter((d) => d.id !== "referrals");
const ROWS = 30;

let fx: StubFixture;
beforeAll(async () => {
  fx = await startStubFixture();
});

const profileOf = (dataset: DatasetDefinition, what: string): string =>
  `${what}-${dataset.id.toLowerCase()}`.slice(0, 63);

const csvRows = (buf: Buffer): Record<string, string>[] => parse(buf, { columns: true, bom: true });

/** The CSV text a value must become, worked out here rather than by the product's code. */
function csvText(field: DatasetField, raw: unknown): string {
  if (raw === null || raw === undefined) return "";
  switch (field.type) {
    case "string":
      return raw as string;
    case "timestamp": {
      const text = raw as string;
      return new Date(text.length === 10 ? `${text}T00:00:00Z` : `${text}Z`).toISOString();
    }
    case "date":
      return raw as string;
    case "integer":
      return String(Number(raw));
    case "decimal": {
      const n = Number(raw);
      return Number.isInteger(n) ? `${n}.0` : String(n);
    }
    case "boolean":
      return raw === true ? "true" : "false";
  }
}

/** The JSON value a value must become. */
function jsonValue(field: DatasetField, raw: unknown): unknown {
  if (raw === null || raw === undefined) return null;
  if (field.type === "integer" || field.type === "decimal") return Number(raw);
  if (field.type === "string" || field.type === "boolean" || field.type === "date") return raw;
  return csvText(field, raw);
}

function fileNames(blobs: Map<string, Buffer>, folder: string): string[] {
  return [...blobs.keys()]
    .filter((name) => name.startsWith(folder))
    .map((name) => name.slice(folder.length))
    .sort();
}

describe.each(OTHERS.map((d) => [d.id, d] as const))("an export of %s", (_, dataset) => {
  const fields = dataset.fields.filter((f) => f.groupedOnly !== true);
  const rows = sampleRows(fields, ROWS);

  it("writes <fileStem>.csv/.json/.parquet/.schema.json with the dataset's columns and typed values", async () => {
    const profile = profileOf(dataset, "raw");
    const { manifest, manifestPath } = await fx.run({
      profile,
      query: queryOf(dataset),
      client: stubClient(paged(rows, 12), ROWS),
    });
    const stem = dataset.fileStem;
    expect(manifest.dataset).toBe(dataset.id);
    expect(manifest.rowCount).toBe(ROWS);
    expect(manifest.pages).toBe(3);
    expect(manifest.integrity.countMatchesTotal).toBe(true);
    expect(manifest.columns).toEqual(fields.map((f) => f.name));
    expect(manifest.schema).toEqual(
      fields.map((f) => ({ name: f.name, type: COLUMN_TYPES[f.type], nullable: true })),
    );
    const blobs = await fx.blobs();
    const folder = manifestPath.slice(0, manifestPath.lastIndexOf("/") + 1);
    const names = [`${stem}.csv`, `${stem}.json`, `${stem}.parquet`, `${stem}.schema.json`, "_manifest.json"];
    // A keyed dataset's raw run also writes its change feed, and the baseline the next run compares with.
    const feed = dataset.key === null ? [] : ["changes.csv", "changes.json"];
    const baseline = dataset.key === null ? [] : ["changes.baseline.tsv"];
    expect(fileNames(blobs, folder)).toEqual([...names, ...feed, ...baseline].sort());
    expect(fileNames(blobs, `${profile}/latest/`)).toEqual([...names, ...feed].sort());
    expect(manifest.files.map((f) => f.path)).toEqual(
      ["csv", "json", "parquet"].map((format) => `${folder}${stem}.${format}`),
    );
    expect(manifest.schemaFile.path).toBe(`${folder}${stem}.schema.json`);

    const csv = csvRows(blobs.get(`${folder}${stem}.csv`)!);
    const json = JSON.parse(blobs.get(`${folder}${stem}.json`)!.toString("utf8")) as Row[];
    expect(csv).toHaveLength(ROWS);
    expect(json).toHaveLength(ROWS);
    expect(Object.keys(csv[0]!)).toEqual(manifest.columns);
    rows.forEach((raw, i) => {
      for (const field of fields) {
        const where = `row ${i} ${field.name}`;
        expect(csv[i]![field.name], where).toBe(csvText(field, raw[field.name]));
        expect(json[i]![field.name], where).toEqual(jsonValue(field, raw[field.name]));
      }
    });
  });

  // Keyed datasets write a feed: see "the change feed of …" below.
  if (dataset.key === null)
    it("writes no change feed, and the manifest says why", async () => {
      const { manifest, manifestPath } = await fx.run({
        profile: profileOf(dataset, "feed"),
        query: queryOf(dataset),
        client: stubClient([rows.slice(0, 5)]),
        formats: ["csv"],
      });
      expect(manifest.changes).toBeNull();
      const reason = new RegExp(`no key \\(${dataset.noKeyReason!.replace(/[()]/g, "\\$&")}\\)`);
      expect(manifest.changeFeed).toEqual({
        available: false,
        reason: expect.stringMatching(reason) as string,
      });
      const folder = manifestPath.slice(0, manifestPath.lastIndexOf("/") + 1);
      expect(fileNames(await fx.blobs(), folder).filter((n) => n.startsWith("changes"))).toEqual([]);
    });
});

describe.each(OTHERS.filter((d) => d.key !== null).map((d) => [d.id, d] as const))(
  "the change feed of %s",
  (_, dataset) => {
    const fields = dataset.fields.filter((f) => f.groupedOnly !== true);
    const feed = changeFeedFields(dataset)!;
    const keyNames = feed.key.map((f) => f.name);
    const volatile = fields.filter((f) => f.volatile === true);
    // The field changed in one row: a measure where the dataset has one (license counts).
    const moved = feed.compared.find((f) => f.measure === true) ?? feed.compared[0]!;
    /** Row i: sample values, its key fields unique to it. */
    const row = (i: number, volatileFrom = 0): Row =>
      Object.fromEntries(
        fields.map((f) => [
          f.name,
          keyNames.includes(f.name)
            ? `${f.name}-${i}`
            : f.volatile === true
              ? sampleValue(f, i + volatileFrom)
              : sampleValue(f, i),
        ]),
      );
    type FeedRow = Record<string, unknown>;
    const keyOf = (i: number): FeedRow => Object.fromEntries(keyNames.map((k) => [k, `${k}-${i}`]));
    const feedRows = async (manifest: Manifest): Promise<{ json: FeedRow[]; csv: FeedRow[] }> => {
      const blobs = await fx.blobs();
      const file = (format: string): Buffer =>
        blobs.get(manifest.changes!.files.find((f) => f.format === format)!.path)!;
      return {
        json: JSON.parse(file("json").toString("utf8")) as FeedRow[],
        csv: csvRows(file("csv")),
      };
    };
    /** A value as the feed's JSON holds it: typed, timestamps compared as instants. */
    const asWritten = (field: DatasetField, raw: unknown): unknown => {
      const value = jsonValue(field, raw);
      return field.type === "timestamp" && typeof value === "string" ? Date.parse(value) : value;
    };
    const reprocessed = (i: number): Row =>
      Object.fromEntries(volatile.map((f) => [f.name, sampleValue(f, i)]));
    const read = (field: DatasetField, value: unknown): unknown =>
      field.type === "timestamp" && typeof value === "string" ? Date.parse(value) : value;

    it(`is keyed by ${keyNames.join(", ")}: added, changed and removed rows come back exactly, and a reprocessing alone changes nothing`, async () => {
      const profile = profileOf(dataset, "changes");
      const before = Array.from({ length: 8 }, (_, i) => row(i));
      const first = (
        await fx.run({
          profile,
          query: queryOf(dataset),
          client: stubClient([before]),
          formats: ["csv", "json"],
        })
      ).manifest;
      expect(first).not.toHaveProperty("changeFeed");
      expect(first.changes).toMatchObject({
        previousRunId: null,
        added: 0,
        changed: 0,
        removed: 0,
        keyFields: keyNames,
        comparedFields: feed.compared.map((f) => f.name),
      });

      // Row 0 removed, row 1's measure (or first compared field) changed, row 8 added; every
      // volatile field (the license datasets' processedDateTime) different in every row.
      const changedRow = { ...row(1, 3), [moved.name]: sampleValue(moved, 2) };
      const after = [changedRow, ...[2, 3, 4, 5, 6, 7, 8].map((i) => row(i, 3))];
      const second = (
        await fx.run({
          profile,
          query: queryOf(dataset),
          client: stubClient(paged(after, 3)),
          formats: ["csv", "json"],
        })
      ).manifest;
      expect(second.changes).toMatchObject({
        previousRunId: first.runId,
        note: null,
        added: 1,
        changed: 1,
        removed: 1,
      });
      const { json, csv } = await feedRows(second);
      expect(json).toHaveLength(3);
      expect(csv).toHaveLength(3);
      expect(Object.keys(json[0]!)).toEqual([
        "change",
        ...keyNames,
        "changedFields",
        ...feed.compared.flatMap((f) => [
          f.name,
          `previous${f.name.charAt(0).toUpperCase()}${f.name.slice(1)}`,
        ]),
      ]);
      expect(Object.keys(csv[0]!)).toEqual(Object.keys(json[0]!));
      const byChange = Object.fromEntries(json.map((r) => [r.change as string, r]));
      expect(byChange.added).toMatchObject({ ...keyOf(8), changedFields: [] });
      expect(byChange.removed).toMatchObject({ ...keyOf(0), changedFields: [] });
      expect(byChange.changed).toMatchObject({ ...keyOf(1), changedFields: [moved.name] });
      const previousName = `previous${moved.name.charAt(0).toUpperCase()}${moved.name.slice(1)}`;
      expect(read(moved, byChange.changed![moved.name])).toEqual(asWritten(moved, sampleValue(moved, 2)));
      expect(read(moved, byChange.changed![previousName])).toEqual(asWritten(moved, sampleValue(moved, 1)));
      // Every compared value of the added row as it now is, typed; none before.
      for (const f of feed.compared) {
        expect(read(f, byChange.added![f.name]), f.name).toEqual(asWritten(f, sampleValue(f, 8)));
        expect(
          byChange.added![`previous${f.name.charAt(0).toUpperCase()}${f.name.slice(1)}`],
          f.name,
        ).toBeNull();
      }
      for (const f of volatile) expect(Object.keys(json[0]!)).not.toContain(f.name);

      // The same rows again, reprocessed (volatile fields moved on once more): an empty feed, also
      // when compared as the export streams (a Parquet-only run, which writes no baseline).
      const third = (
        await fx.run({
          profile,
          query: queryOf(dataset),
          client: stubClient([
            [{ ...changedRow, ...reprocessed(9) }, ...[2, 3, 4, 5, 6, 7, 8].map((i) => row(i, 5))],
          ]),
          formats: ["parquet"],
        })
      ).manifest;
      expect(third.changes).toMatchObject({ previousRunId: second.runId, added: 0, changed: 0, removed: 0 });
      expect((await feedRows(third)).json).toEqual([]);
    });

    it.each(["csv", "json"] as const)(
      "compares with a snapshot of the version before feeds for this dataset, from its %s file, value for value",
      async (format) => {
        const profile = profileOf(dataset, `legacy-${format}`);
        const rows = Array.from({ length: 12 }, (_, i) => row(i));
        const first = (
          await fx.run({ profile, query: queryOf(dataset), client: stubClient([rows]), formats: [format] })
        ).manifest;
        // What that version published: no change feed, and a manifest that said why.
        const latestPath = `${profile}/latest/_manifest.json`;
        const container = fx.app.exportContainer;
        const legacy = JSON.parse(
          (await container.getBlobClient(latestPath).downloadToBuffer()).toString("utf8"),
        ) as Record<string, unknown>;
        legacy.changes = null;
        legacy.changeFeed = {
          available: false,
          reason: "the change feed is written for referrals only in this version",
        };
        const text = JSON.stringify(legacy);
        await container.getBlockBlobClient(latestPath).upload(text, Buffer.byteLength(text));

        // The same rows reprocessed, one measure moved: exactly that row is reported. The other
        // rows compare equal, whatever the file's notation of decimals, booleans and timestamps.
        const next = rows.map((r, i) => ({ ...r, ...reprocessed(i + 2) }));
        next[1] = { ...next[1], [moved.name]: sampleValue(moved, 2) };
        const second = (
          await fx.run({ profile, query: queryOf(dataset), client: stubClient([next]), formats: ["json"] })
        ).manifest;
        expect(second.changes).toMatchObject({
          previousRunId: first.runId,
          note: null,
          added: 0,
          changed: 1,
          removed: 0,
        });
        expect((await feedRows(second)).json).toMatchObject([{ ...keyOf(1), changedFields: [moved.name] }]);
      },
    );

    it("compares nothing when two rows share a key, says so, and still publishes every row", async () => {
      const profile = profileOf(dataset, "twins");
      const rows = Array.from({ length: 6 }, (_, i) => row(i));
      await fx.run({ profile, query: queryOf(dataset), client: stubClient([rows]), formats: ["json"] });
      // Rows 1 and 4 now share row 1's key; row 2 changed: still nothing compared.
      const twins = [
        rows[0]!,
        rows[1]!,
        { ...rows[2]!, [moved.name]: sampleValue(moved, 3) },
        rows[3]!,
        { ...row(4), ...keyOf(1) },
      ];
      const { manifest } = await fx.run({
        profile,
        query: queryOf(dataset),
        client: stubClient([twins]),
        formats: ["json"],
      });
      expect(manifest.rowCount).toBe(5);
      expect(manifest.changes).toMatchObject({ previousRunId: null, added: 0, changed: 0, removed: 0 });
      expect(manifest.changes!.note).toBe(
        `1 row(s) share their key (${keyNames.join(", ")}) with an earlier row of this run, so rows cannot be told apart: nothing was compared, and the baseline holds the first row of each key`,
      );
      expect((await feedRows(manifest)).json).toEqual([]);
    });
  },
);

describe("the documented quirks", () => {
  it("indirect resellers: year 1 is null, latestSubscriptionDeprovisionedEndDate is read as its documented field", async () => {
    const dataset = requireDataset("indirectResellers");
    // The documentation's example row.
    const example = {
      partnerTenantId: "a1b2c3d4-0000-0000-0000-000000000000",
      id: "1111111",
      name: "TEST ACCOUNT",
      market: "US",
      firstSubscriptionCreationDate: "2017-09-14T00:00:00",
      latestSubscriptionCreationDate: "2018-04-24T00:00:00",
      firstSubscriptionEndDate: "2018-09-14T00:00:00",
      latestSubscriptionEndDate: "2019-04-24T00:00:00",
      firstSubscriptionSuspendedDate: "0001-01-01T00:00:00",
      latestSubscriptionSuspendedDate: "0001-01-01T00:00:00",
      firstSubscriptionDeprovisionedDate: "0001-01-01T00:00:00",
      latestSubscriptionDeprovisionedEndDate: "0001-01-01T00:00:00",
      subscriptionCount: 10,
      licenseCount: 20,
    };
    const later = {
      ...example,
      id: "2222222",
      latestSubscriptionDeprovisionedEndDate: "2019-01-02T03:04:05",
    };
    const { manifest } = await fx.run({
      profile: "quirks-resellers",
      query: queryOf(dataset),
      client: stubClient([[example, later]]),
      formats: ["csv", "json"],
    });
    const blobs = await fx.blobs();
    const json = JSON.parse(
      blobs.get("quirks-resellers/latest/indirectResellers.json")!.toString("utf8"),
    ) as Row[];
    expect(json[0]).toMatchObject({
      id: "1111111",
      firstSubscriptionCreationDate: "2017-09-14T00:00:00.000Z",
      firstSubscriptionSuspendedDate: null,
      latestSubscriptionDeprovisionedDate: null,
      subscriptionCount: 10,
      licenseCount: 20,
      indirectResellerCount: null,
    });
    expect(json[1]!.latestSubscriptionDeprovisionedDate).toBe("2019-01-02T03:04:05.000Z");
    expect(Object.hasOwn(json[0]!, "latestSubscriptionDeprovisionedEndDate")).toBe(false);
    expect(manifest.droppedFields).toEqual([]);
    const text = blobs.get("quirks-resellers/latest/indirectResellers.json")!.toString("utf8");
    // Decimals say they are decimals, even when whole.
    expect(text).toContain('"subscriptionCount":10.0,"licenseCount":20.0');
    const csv = csvRows(blobs.get("quirks-resellers/latest/indirectResellers.csv")!);
    expect(csv[0]).toMatchObject({ firstSubscriptionSuspendedDate: "", subscriptionCount: "10.0" });
  });

  it("search: an MPN ID sent as a number is text, a date-only searchDate is midnight UTC, aggregation-only counts are left out", async () => {
    const dataset = requireDataset("search");
    const example = {
      companyName: "Contoso",
      contactButtonClicked: false,
      keywordCountry: "US",
      detailsViewed: true,
      keywordIndustryFocus: "Healthcare",
      mpnId: 2604568,
      partnerMarket: "CN",
      keywordProduct: "Dynamics",
      referralSubmitted: "True",
      searchDate: "2018-05-30",
      keywordSearchText: "=cmd|' /C calc'!A0",
      // Not documented for ungrouped rows: kept in JSON, named as dropped.
      profileViews: 3,
    };
    const { manifest } = await fx.run({
      profile: "quirks-search",
      query: queryOf(dataset),
      client: stubClient([[example]]),
      formats: ["csv", "json"],
    });
    expect(manifest.columns).not.toContain("profileViews");
    expect(manifest.columns).toHaveLength(11);
    expect(manifest.droppedFields).toEqual(["profileViews"]);
    const blobs = await fx.blobs();
    const [json] = JSON.parse(blobs.get("quirks-search/latest/search.json")!.toString("utf8")) as Row[];
    expect(json).toMatchObject({
      mpnId: "2604568",
      referralSubmitted: true,
      searchDate: "2018-05-30T00:00:00.000Z",
      keywordSearchText: "=cmd|' /C calc'!A0",
      profileViews: 3,
    });
    const [csv] = csvRows(blobs.get("quirks-search/latest/search.csv")!);
    // The formula guard is for text only.
    expect(csv).toMatchObject({
      mpnId: "2604568",
      contactButtonClicked: "false",
      referralSubmitted: "true",
      keywordSearchText: "'=cmd|' /C calc'!A0",
    });
  });

  it("azure usage: CustomerTenantId is read as customerTenantId, an empty reservation stays empty text, quantities are decimals", async () => {
    const dataset = requireDataset("azureUsage");
    const example = {
      CustomerTenantId: "tenant-1",
      customerName: "Contoso",
      subscriptionId: "sub-1",
      subscriptionName: "Dev",
      usageDate: "2018-05-27T00:00:00",
      resourceLocation: "westeurope",
      meterCategory: "Data Management",
      meterSubcategory: "Geo Redundant",
      meterUnit: "GB",
      reservationOrderId: "",
      reservationId: "",
      consumptionMeterId: "",
      serviceType: "Standard_E4s_v3",
      quantity: "-0.000001",
    };
    await fx.run({
      profile: "quirks-azure",
      query: queryOf(dataset),
      client: stubClient([[example, { ...example, quantity: 20 }]]),
      formats: ["csv", "json"],
    });
    const blobs = await fx.blobs();
    const json = JSON.parse(blobs.get("quirks-azure/latest/azureUsage.json")!.toString("utf8")) as Row[];
    expect(json[0]).toMatchObject({
      customerTenantId: "tenant-1",
      reservationOrderId: "",
      quantity: -0.000001,
    });
    const csv = csvRows(blobs.get("quirks-azure/latest/azureUsage.csv")!);
    // No exponent, no formula guard on a negative number.
    expect(csv.map((r) => r.quantity)).toEqual(["-0.000001", "20.0"]);
  });

  it("licenses usage: licenseActive is read as licensesActive, attributes stay in JSON only", async () => {
    const dataset = requireDataset("licensesUsage");
    const example = {
      processedDateTime: "2018-10-14T00:00:00",
      serviceCode: "O365",
      serviceName: "Office 365",
      channel: "reseller",
      customerTenantId: "t-1",
      customerName: "Contoso",
      productId: "p-1",
      productName: "E3",
      workloadCode: "EXO",
      workloadName: "Exchange",
      licenseActive: "12",
      licensesQualified: "15",
      attributes: { objectType: "LicensesUsage" },
    };
    const { manifest } = await fx.run({
      profile: "quirks-licenses",
      query: queryOf(dataset),
      client: stubClient([[example]]),
      formats: ["csv", "json"],
    });
    expect(manifest.droppedFields).toEqual(["attributes"]);
    const blobs = await fx.blobs();
    const [json] = JSON.parse(
      blobs.get("quirks-licenses/latest/licensesUsage.json")!.toString("utf8"),
    ) as Row[];
    expect(json).toMatchObject({
      licensesActive: 12,
      licensesQualified: 15,
      attributes: { objectType: "LicensesUsage" },
    });
    const [csv] = csvRows(blobs.get("quirks-licenses/latest/licensesUsage.csv")!);
    expect(csv).toMatchObject({ licensesActive: "12", licensesQualified: "15" });
    expect(Object.keys(csv!)).not.toContain("attributes");
  });

  it("grouped subscriptions: the groupby fields then the measures, counts sent as strings become integers", async () => {
    const dataset = requireDataset("subscriptions");
    // The documentation's grouped example.
    const groups = [
      { subscriptionType: "Azure", subscriptionCount: "63", licenseCount: "0" },
      { subscriptionType: "Office", subscriptionCount: "185", licenseCount: "2384" },
      { subscriptionType: "UNKNOWN", subscriptionCount: "2", licenseCount: null },
    ];
    const { manifest } = await fx.run({
      profile: "grouped-subscriptions",
      query: queryOf(dataset, ["subscriptionType"]),
      client: stubClient([groups], 3),
      formats: ["csv", "json"],
    });
    expect(manifest.columns).toEqual(["subscriptionType", "licenseCount", "subscriptionCount"]);
    expect(manifest.schema.map((c) => c.type)).toEqual(["string", "int64", "int64"]);
    expect(manifest.changes).toBeNull();
    expect(manifest.changeFeed?.reason).toMatch(/grouped rows are aggregates/);
    const blobs = await fx.blobs();
    const json = JSON.parse(
      blobs.get("grouped-subscriptions/latest/subscriptions.json")!.toString("utf8"),
    ) as Row[];
    expect(json).toEqual([
      { subscriptionType: "Azure", licenseCount: 0, subscriptionCount: 63 },
      { subscriptionType: "Office", licenseCount: 2384, subscriptionCount: 185 },
      { subscriptionType: "UNKNOWN", licenseCount: null, subscriptionCount: 2 },
    ]);
    const schema = JSON.parse(
      blobs.get("grouped-subscriptions/latest/subscriptions.schema.json")!.toString("utf8"),
    ) as {
      title: string;
      items: { properties: Record<string, unknown> };
    };
    expect(schema.title).toMatch(/subscription analytics export \(grouped\)/i);
    expect(schema.items.properties).toEqual({
      subscriptionType: { type: ["string", "null"] },
      licenseCount: { type: ["integer", "null"] },
      subscriptionCount: { type: ["integer", "null"] },
    });
  });

  it("a value its column cannot hold fails the run naming page, row and field; nothing is published", async () => {
    const dataset = requireDataset("subscriptions");
    const fields = dataset.fields.filter((f) => f.groupedOnly !== true);
    const good = sampleRows(fields, 10);
    await fx.run({ profile: "bad-value", query: queryOf(dataset), client: stubClient(paged(good, 5)) });
    const before = await fx.blobs();
    const bad = good.map((r, i) => (i === 8 ? { ...r, autoRenewEnabled: "maybe" } : r));
    const failure = await fx
      .run({ profile: "bad-value", query: queryOf(dataset), client: stubClient(paged(bad, 5)) })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(isExportError(failure) && failure.reason).toBe("upstream");
    expect((failure as Error).message).toBe(
      `Partner Center sent an unexpected page 1: row 3 field 'autoRenewEnabled' is not true or false: "maybe" (MS-RequestId stub-request-1, MS-CorrelationId ?)`,
    );
    const after = await fx.blobs();
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
  });
});

describe("a profile that moves to another dataset", () => {
  it("referrals first, subscriptions next: latest/ holds only the subscriptions files, its change feed started afresh", async () => {
    const referralRow = {
      id: "100",
      status: "Active",
      customerMarket: "DE",
      customerName: "Contoso",
      customerOrgSize: "10to50",
      createdDate: "2026-01-01T00:00:00",
      partnerMarket: "FR",
    };
    const first: Manifest = (
      await fx.run({
        profile: "moving",
        query: queryOf(requireDataset("referrals")),
        client: stubClient([[referralRow, { ...referralRow, id: "101" }]]),
      })
    ).manifest;
    expect(first.dataset).toBe("referrals");
    expect(first).not.toHaveProperty("changeFeed");
    expect(first.changes).not.toBeNull();
    expect(fileNames(await fx.blobs(), "moving/latest/")).toEqual([
      "_manifest.json",
      "changes.csv",
      "changes.json",
      "referrals.csv",
      "referrals.json",
      "referrals.parquet",
      "referrals.schema.json",
    ]);

    const subscriptions = requireDataset("subscriptions");
    const fields = subscriptions.fields.filter((f) => f.groupedOnly !== true);
    const moved = await fx.run({
      profile: "moving",
      query: queryOf(subscriptions),
      client: stubClient([sampleRows(fields, 4)]),
      formats: ["csv", "json"],
    });
    // Its change feed starts afresh: referrals are not compared with subscriptions.
    expect(moved.manifest.changes).toMatchObject({
      previousRunId: null,
      note: `The previous snapshot (${first.runId}) exported another dataset (referrals)`,
      added: 0,
      changed: 0,
      removed: 0,
    });
    expect(fileNames(await fx.blobs(), "moving/latest/")).toEqual([
      "_manifest.json",
      "changes.csv",
      "changes.json",
      "subscriptions.csv",
      "subscriptions.json",
      "subscriptions.schema.json",
    ]);
  });
});
