import { parse } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { requireDataset } from "../../src/partnerCenter/datasets/index.js";
import { REFERRAL_FIELDS } from "../../src/partnerCenter/fields.js";
import {
  queryOf,
  sampleRows,
  startStubFixture,
  stubClient,
  type Row,
  type StubFixture,
} from "./datasetStub.js";

/**
 * Referral fields Partner Center adds in future: the export does not break, JSON keeps them, the
 * CSV and Parquet columns stay as documented, and the manifest names each one under droppedFields,
 * for raw and for grouped exports.
 */
const REFERRALS = requireDataset("referrals");

let fx: StubFixture;
beforeAll(async () => {
  fx = await startStubFixture();
});

const csvRows = (buf: Buffer): Record<string, string>[] => parse(buf, { columns: true, bom: true });

describe("referral fields that are not documented", () => {
  it("a raw export keeps them in JSON, leaves them out of CSV and Parquet, and names them in the manifest", async () => {
    const rows = sampleRows(REFERRALS.fields, 3).map((row, i): Row => ({
      ...row,
      id: `ref-${i}`,
      partnerScore: 70 + i,
      ...(i === 2 ? { region: "EMEA" } : {}),
    }));
    const { manifest } = await fx.run({
      profile: "drift-raw",
      query: queryOf(REFERRALS),
      client: stubClient([rows]),
      formats: ["csv", "json", "parquet"],
    });
    expect(manifest.rowCount).toBe(3);
    expect(manifest.columns).toEqual([...REFERRAL_FIELDS]);
    expect(manifest.droppedFields).toEqual(["partnerScore", "region"]);
    const blobs = await fx.blobs();
    const csv = csvRows(blobs.get("drift-raw/latest/referrals.csv")!);
    expect(Object.keys(csv[0]!)).toEqual([...REFERRAL_FIELDS]);
    const json = JSON.parse(blobs.get("drift-raw/latest/referrals.json")!.toString("utf8")) as Row[];
    expect(json.map((r) => r.partnerScore)).toEqual([70, 71, 72]);
    expect(json[2]?.region).toBe("EMEA");
    expect(manifest.schema.map((c) => c.name)).toEqual([...REFERRAL_FIELDS]);
  });

  it("a grouped export keeps them in JSON, leaves them out of CSV and Parquet, and names them in the manifest", async () => {
    const groups: Row[] = [
      { customerMarket: "US", referralCount: 4, averageDealValue: 1250.5 },
      { customerMarket: "DE", referralCount: "2", averageDealValue: 800 },
    ];
    const { manifest } = await fx.run({
      profile: "drift-grouped",
      query: queryOf(REFERRALS, ["customerMarket"]),
      client: stubClient([groups]),
      formats: ["csv", "json", "parquet"],
    });
    expect(manifest.columns).toEqual(["customerMarket", "referralCount"]);
    expect(manifest.droppedFields).toEqual(["averageDealValue"]);
    const blobs = await fx.blobs();
    expect(csvRows(blobs.get("drift-grouped/latest/referrals.csv")!)).toEqual([
      { customerMarket: "US", referralCount: "4" },
      { customerMarket: "DE", referralCount: "2" },
    ]);
    const json = JSON.parse(blobs.get("drift-grouped/latest/referrals.json")!.toString("utf8")) as Row[];
    expect(json).toEqual([
      { customerMarket: "US", referralCount: 4, averageDealValue: 1250.5 },
      { customerMarket: "DE", referralCount: 2, averageDealValue: 800 },
    ]);
  });

  it("a grouped export whose rows hold only the documented fields names none", async () => {
    const { manifest } = await fx.run({
      profile: "drift-grouped-none",
      query: queryOf(REFERRALS, ["status"]),
      client: stubClient([[{ status: "Won", count: 3 }]]),
      formats: ["csv", "json"],
    });
    expect(manifest.columns).toEqual(["status", "count"]);
    expect(manifest.droppedFields).toEqual([]);
  });
});
