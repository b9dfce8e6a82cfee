import { describe, expect, it } from "vitest";
import { createRowNormalizer, RowValueError } from "../../src/export/datasetRows.js";
import {
  decimalText,
  normalizeBoolean,
  normalizeDate,
  normalizeDecimal,
  normalizeInteger,
  normalizeText,
  normalizeTimestamp,
  plainNumber,
  valueNormalizer,
} from "../../src/export/typedValues.js";
import { requireDataset } from "../../src/partnerCenter/datasets/index.js";

describe("values by column type", () => {
  it("timestamps: no zone is UTC, date-only is midnight, offsets are converted, always with milliseconds", () => {
    expect(normalizeTimestamp("2018-02-07T23:43:19")).toBe("2018-02-07T23:43:19.000Z");
    expect(normalizeTimestamp("2016-02-04T19:29:38.037")).toBe("2016-02-04T19:29:38.037Z");
    expect(normalizeTimestamp("2017-03-14T03:25:16.36+00:00")).toBe("2017-03-14T03:25:16.360Z");
    expect(normalizeTimestamp("2017-03-14T03:25:16+02:00")).toBe("2017-03-14T01:25:16.000Z");
    expect(normalizeTimestamp("2017-03-14T03:25:16.1234567Z")).toBe("2017-03-14T03:25:16.123Z");
    expect(normalizeTimestamp("2018-05-30")).toBe("2018-05-30T00:00:00.000Z");
    expect(normalizeTimestamp("0001-01-01T00:00:00")).toBe("0001-01-01T00:00:00.000Z");
    for (const garbage of ["yesterday", "2018-02-30T00:00:00", "2018-13-01", "1", "2018-02-07T24:00:00", ""])
      expect(() => normalizeTimestamp(garbage), garbage).toThrow(/is not a timestamp/);
    expect(() => normalizeTimestamp(1_517_000_000_000)).toThrow(/is not a timestamp: 1517000000000/);
  });

  it("dates: YYYY-MM-DD, a midnight timestamp, nothing with a time of day", () => {
    expect(normalizeDate("2024-01-31")).toBe("2024-01-31");
    expect(normalizeDate("2024-01-31T00:00:00")).toBe("2024-01-31");
    expect(() => normalizeDate("2024-01-31T10:00:00")).toThrow(/time of day/);
    expect(() => normalizeDate("31/01/2024")).toThrow(/is not a date/);
  });

  it("integers: numbers and their digits; no fractions, words, separators or digits beyond 2^53", () => {
    expect(normalizeInteger(63)).toBe(63);
    expect(normalizeInteger("63")).toBe(63);
    expect(normalizeInteger("-4")).toBe(-4);
    expect(normalizeInteger(-0)).toBe(0);
    for (const garbage of [1.5, "1.5", "1,234", "12abc", "", true, "9007199254740993", Number.NaN])
      expect(() => normalizeInteger(garbage), String(garbage)).toThrow(/is not a whole number/);
  });

  it("decimals: numbers and numeric text, finite only", () => {
    expect(normalizeDecimal(0.36)).toBe(0.36);
    expect(normalizeDecimal("20")).toBe(20);
    expect(normalizeDecimal("1e-7")).toBe(1e-7);
    expect(normalizeDecimal(".5")).toBe(0.5);
    for (const garbage of ["NaN", "Infinity", Number.POSITIVE_INFINITY, "1,5", "abc", false])
      expect(() => normalizeDecimal(garbage), String(garbage)).toThrow(/is not a number/);
  });

  it("booleans: true/false and their words in any case", () => {
    expect(normalizeBoolean(true)).toBe(true);
    expect(normalizeBoolean("False")).toBe(false);
    for (const garbage of ["yes", 1, 0, "1"])
      expect(() => normalizeBoolean(garbage)).toThrow(/true or false/);
  });

  it("text: numbers as their plain digits (an MPN ID sent as a number), no objects", () => {
    expect(normalizeText(2604568)).toBe("2604568");
    expect(normalizeText(1e21)).toBe("1000000000000000000000");
    expect(normalizeText(true)).toBe("true");
    expect(() => normalizeText({ a: 1 })).toThrow(/is not text/);
  });

  it("numbers as plain text, decimals always with a fractional digit", () => {
    expect(plainNumber(1e-7)).toBe("0.0000001");
    expect(plainNumber(-1.5e-9)).toBe("-0.0000000015");
    expect(plainNumber(1.25e21)).toBe("1250000000000000000000");
    expect(plainNumber(123.456)).toBe("123.456");
    expect(decimalText(20)).toBe("20.0");
    expect(decimalText(0.36)).toBe("0.36");
    expect(decimalText(2e21)).toBe("2000000000000000000000.0");
    for (const n of [1e-7, 3.14e-12, 6.02e23, 1e21, 123.456, -5e-324])
      expect(Number(plainNumber(n)), String(n)).toBe(n);
  });

  it("null, empty and the dataset's 'none' values", () => {
    const timestamp = valueNormalizer("timestamp", ["0001-01-01T00:00:00"]);
    expect(timestamp(null)).toBeNull();
    expect(timestamp(undefined)).toBeNull();
    expect(timestamp("")).toBeNull();
    expect(timestamp("0001-01-01T00:00:00")).toBeNull();
    // The same instant, written another way.
    expect(timestamp("0001-01-01T00:00:00.000Z")).toBeNull();
    expect(timestamp("2018-01-01T00:00:00")).toBe("2018-01-01T00:00:00.000Z");
    // An empty string is a value only for text (Azure usage's "no reservation").
    expect(valueNormalizer("string")("")).toBe("");
    expect(valueNormalizer("integer")("")).toBeNull();
  });
});

describe("rows of a dataset", () => {
  it("reads aliases when the documented name is absent, keeps extras after the columns and names them", () => {
    const dataset = requireDataset("licensesUsage");
    const extras: string[] = [];
    const normalize = createRowNormalizer(dataset.fields, { onExtra: (name) => extras.push(name) });
    const row = normalize({
      licenseActive: "12",
      licensesQualified: 15,
      processedDateTime: "2018-10-14T00:00:00",
      attributes: { objectType: "x" },
      workloadCode: "EXO",
    });
    expect(Object.keys(row)).toEqual([...dataset.fields.map((f) => f.name), "attributes"]);
    expect(row.licensesActive).toBe(12);
    expect(row.licensesQualified).toBe(15);
    expect(row.processedDateTime).toBe("2018-10-14T00:00:00.000Z");
    expect(row.workloadName).toBeNull();
    expect(row.attributes).toEqual({ objectType: "x" });
    expect(extras).toEqual(["attributes"]);
    // The documented name wins over the alias.
    expect(normalize({ licensesActive: 1, licenseActive: 2 }).licensesActive).toBe(1);
  });

  it("refuses a value its column cannot hold, naming the field", () => {
    const normalize = createRowNormalizer(requireDataset("subscriptions").fields);
    expect(() => normalize({ id: "s1", autoRenewEnabled: "maybe" })).toThrow(RowValueError);
    expect(() => normalize({ id: "s1", licenseCount: "12 seats" })).toThrow(
      /field 'licenseCount' is not a whole number: "12 seats"/,
    );
  });
});
