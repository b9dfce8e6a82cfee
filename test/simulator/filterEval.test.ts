import { describe, expect, it } from "vitest";
import { parseFilter } from "../../src/partnerCenter/query.js";
import type { Referral } from "../../src/simulator/dataset.js";
import { comparableDate, compileFilter, matchesFilter } from "../../src/simulator/filterEval.js";

function referral(overrides: Partial<Referral>): Referral {
  return {
    id: "1",
    status: "Accepted",
    customerMarket: "US",
    customerName: "Best Customer Ever",
    customerOrgSize: "10to50employees",
    acceptedDate: "2018-02-07T23:43:19",
    acknowledgedDate: "2018-02-07T23:40:50",
    archivedDate: null,
    declinedDate: null,
    expiredDate: null,
    lostDate: null,
    missedDate: null,
    createdDate: "2018-02-04T23:08:59",
    skippedDate: null,
    wonDate: null,
    partnerMarket: "US",
    ...overrides,
  };
}

const row = referral({});

describe("matchesFilter", () => {
  it.each<[string, boolean]>([
    ["status eq 'Accepted'", true],
    ["status eq 'accepted'", false],
    ["status ne 'Accepted'", false],
    ["status ne 'Won'", true],
    ["contains(customerName,'CUSTOMER')", true],
    ["contains(customerName,'customer ever')", true],
    ["contains(customerName,'nope')", false],
    ["contains(customerName,'')", true],
    ["createdDate gt '2018-02-04'", true],
    ["createdDate gt '2018-02-05'", false],
    ["createdDate ge '2018-02-04T23:08:59'", true],
    ["createdDate gt '2018-02-04T23:08:59'", false],
    ["createdDate lt '2018-02-04T23:09:00'", true],
    ["createdDate le '2018-02-04T23:08:58'", false],
    ["createdDate eq '2018-02-04T23:08:59'", true],
    ["createdDate eq '2018-02-04'", false],
    ["wonDate eq '2018-02-04'", false],
    ["wonDate gt '2000-01-01'", false],
    ["wonDate lt '2999-01-01'", false],
    ["wonDate ne '2018-02-04'", true],
    ["status eq 'Won' or customerMarket eq 'US'", true],
    ["status eq 'Won' and customerMarket eq 'US'", false],
    ["status eq 'Won' or status eq 'Accepted' and customerMarket eq 'DE'", false],
    ["(status eq 'Won' or status eq 'Accepted') and customerMarket eq 'US'", true],
  ])("%s -> %s", (filter, expected) => {
    const ast = parseFilter(filter);
    expect(matchesFilter(ast, row)).toBe(expected);
    expect(compileFilter(ast)(row)).toBe(expected);
  });

  it("handles quotes and non-ASCII exactly", () => {
    const obrien = referral({ customerName: "O'Brien Müller" });
    expect(matchesFilter(parseFilter("customerName eq 'O''Brien Müller'"), obrien)).toBe(true);
    expect(matchesFilter(parseFilter("contains(customerName,'MÜLLER')"), obrien)).toBe(true);
  });

  it("treats a null text field as matching ne only", () => {
    const odd = { ...row, customerName: null } as unknown as Referral;
    expect(matchesFilter(parseFilter("customerName eq 'x'"), odd)).toBe(false);
    expect(matchesFilter(parseFilter("customerName ne 'x'"), odd)).toBe(true);
    expect(matchesFilter(parseFilter("contains(customerName,'x')"), odd)).toBe(false);
  });
});

describe("comparableDate", () => {
  it("normalises the forms a date may take", () => {
    expect(comparableDate("2018-02-07T23:43:19")).toBe("2018-02-07T23:43:19");
    expect(comparableDate("2018-02-07T23:43:19.123Z")).toBe("2018-02-07T23:43:19");
    expect(comparableDate("2018-02-07")).toBe("2018-02-07T00:00:00");
    expect(comparableDate("not a date")).toBeNull();
    expect(comparableDate(null)).toBeNull();
  });
});
