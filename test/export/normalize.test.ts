import { describe, expect, it } from "vitest";
import { normalizeReferral } from "../../src/export/normalize.js";
import { REFERRAL_FIELDS } from "../../src/partnerCenter/fields.js";

const documented = {
  id: "1000000001",
  status: "Active",
  customerMarket: "DE",
  customerName: "Contoso",
  customerOrgSize: "10to50",
  acceptedDate: "2026-01-02T03:04:05",
  acknowledgedDate: null,
  archivedDate: null,
  declinedDate: null,
  expiredDate: null,
  lostDate: null,
  missedDate: null,
  createdDate: "2026-01-01T00:00:00",
  skippedDate: null,
  wonDate: null,
  partnerMarket: "FR",
};

function normalize(text: string): { row: Record<string, unknown>; extras: string[] } {
  const extras: string[] = [];
  const row = normalizeReferral(JSON.parse(text) as Record<string, unknown>, (name) => extras.push(name));
  return { row, extras };
}

describe("normalizeReferral", () => {
  it("puts documented fields first in CSV order with UTC dates, keeps extras after, and names every extra", () => {
    const text = JSON.stringify({ ...documented, dealValue: 12, constructor: "x", notes: "n" });
    const { row, extras } = normalize(text);
    expect(Object.keys(row)).toEqual([...REFERRAL_FIELDS, "dealValue", "notes"]);
    expect(row.acceptedDate).toBe("2026-01-02T03:04:05Z");
    expect(row.createdDate).toBe("2026-01-01T00:00:00Z");
    expect(row.dealValue).toBe(12);
    // `constructor` cannot be a plain field of the output object; it is still reported as left out.
    expect(extras).toEqual(["dealValue", "constructor", "notes"]);
  });

  it("gives the same row whatever order the fields arrive in, with missing fields as null", () => {
    // Reversed, `extra` first, `partnerMarket` missing.
    const fields = Object.entries(documented).filter(([name]) => name !== "partnerMarket");
    const shuffled = { extra: true, ...Object.fromEntries(fields.reverse()) };
    const { row, extras } = normalize(JSON.stringify(shuffled));
    const { row: usual } = normalize(JSON.stringify({ ...documented, partnerMarket: null, extra: true }));
    expect(JSON.stringify(row)).toBe(JSON.stringify(usual));
    expect(row.partnerMarket).toBeNull();
    expect(extras).toEqual(["extra"]);
  });
});
