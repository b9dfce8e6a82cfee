import { describe, expect, it } from "vitest";
import {
  MAX_FILTER_LENGTH,
  QueryValidationError,
  formatFilter,
  isDateLiteral,
  parseFilter,
  toQueryParams,
  validateQuery,
  type FilterNode,
  type QueryInput,
} from "../../src/partnerCenter/query.js";

function validationError(run: () => unknown): QueryValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof QueryValidationError) return error;
    throw error;
  }
  throw new Error("expected a QueryValidationError");
}

/** Nests `inner` in `depth` pairs of parentheses. */
function nested(depth: number, inner = "status eq 'Won'"): string {
  return `${"(".repeat(depth)}${inner}${")".repeat(depth)}`;
}

function orChain(count: number): string {
  return Array.from({ length: count }, (_, i) => `id eq '${i}'`).join(" or ");
}

describe("parseFilter / formatFilter: valid filters", () => {
  const cases: [input: string, canonical: string][] = [
    ["status eq 'Won'", "status eq 'Won'"],
    ["status ne 'Lost'", "status ne 'Lost'"],
    ["  status   EQ   'Won'  ", "status eq 'Won'"],
    ["status eq'Won'", "status eq 'Won'"],
    ["customerName eq 'O''Brien'", "customerName eq 'O''Brien'"],
    ["customerName eq ''''", "customerName eq ''''"],
    ["customerName eq ''", "customerName eq ''"],
    ["contains(customerName,'contoso')", "contains(customerName,'contoso')"],
    ["CONTAINS ( customerName , 'a, b' )", "contains(customerName,'a, b')"],
    ["createdDate gt '2024-01-01'", "createdDate gt '2024-01-01'"],
    ["createdDate GE '2024-02-29T23:59:59'", "createdDate ge '2024-02-29T23:59:59'"],
    [
      "wonDate lt '2025-12-31' and wonDate le '2025-12-31T00:00:00'",
      "wonDate lt '2025-12-31' and wonDate le '2025-12-31T00:00:00'",
    ],
    ["acceptedDate eq '2024-03-01'", "acceptedDate eq '2024-03-01'"],
    ["status eq 'Won' and customerMarket eq 'US'", "status eq 'Won' and customerMarket eq 'US'"],
    [
      "status eq 'Won' AND customerMarket eq 'US' Or status eq 'Lost'",
      "status eq 'Won' and customerMarket eq 'US' or status eq 'Lost'",
    ],
    [
      "status eq 'Won' or status eq 'Lost' and customerMarket eq 'US'",
      "status eq 'Won' or status eq 'Lost' and customerMarket eq 'US'",
    ],
    [
      "(status eq 'Won' or status eq 'Lost') and customerMarket eq 'US'",
      "(status eq 'Won' or status eq 'Lost') and customerMarket eq 'US'",
    ],
    [
      "customerMarket eq 'US' and (status eq 'Won' or status eq 'Lost')",
      "customerMarket eq 'US' and (status eq 'Won' or status eq 'Lost')",
    ],
    ["((status eq 'Won'))", "status eq 'Won'"],
    ["(status eq 'Won')and(customerMarket eq 'DE')", "status eq 'Won' and customerMarket eq 'DE'"],
    ["customerName eq 'Müller & Söhne, \"GmbH\"'", "customerName eq 'Müller & Söhne, \"GmbH\"'"],
    ["contains(customerName,'株式会社 🚀')", "contains(customerName,'株式会社 🚀')"],
    ["customerName eq 'x'' or 1 eq 1'", "customerName eq 'x'' or 1 eq 1'"],
    [nested(32), "status eq 'Won'"],
  ];

  it.each(cases)("%s", (input, canonical) => {
    const ast = parseFilter(input);
    expect(formatFilter(ast)).toBe(canonical);
    // The canonical form is a fixed point and parses back to the same tree.
    expect(parseFilter(canonical)).toEqual(ast);
    expect(formatFilter(parseFilter(canonical))).toBe(canonical);
  });

  it("builds the documented tree, with and binding tighter than or", () => {
    expect(parseFilter("status eq 'A' or status eq 'B' and customerMarket eq 'US'")).toEqual({
      kind: "or",
      left: { kind: "compare", field: "status", op: "eq", value: "A" },
      right: {
        kind: "and",
        left: { kind: "compare", field: "status", op: "eq", value: "B" },
        right: { kind: "compare", field: "customerMarket", op: "eq", value: "US" },
      },
    } satisfies FilterNode);
  });

  it("unescapes doubled quotes into the value", () => {
    expect(parseFilter("customerName eq 'O''Brien'")).toEqual({
      kind: "compare",
      field: "customerName",
      op: "eq",
      value: "O'Brien",
    });
  });

  it("keeps the tree of a right-nested and through formatting", () => {
    const ast: FilterNode = {
      kind: "and",
      left: { kind: "compare", field: "status", op: "eq", value: "A" },
      right: {
        kind: "and",
        left: { kind: "compare", field: "status", op: "eq", value: "B" },
        right: { kind: "compare", field: "status", op: "eq", value: "C" },
      },
    };
    expect(formatFilter(ast)).toBe("status eq 'A' and (status eq 'B' and status eq 'C')");
    expect(parseFilter(formatFilter(ast))).toEqual(ast);
  });

  it("accepts the limits exactly: 100 comparisons, 2,000 characters", () => {
    expect(() => parseFilter(orChain(100))).not.toThrow();
    const padded = `customerName eq '${"x".repeat(MAX_FILTER_LENGTH - "customerName eq ''".length)}'`;
    expect(padded).toHaveLength(MAX_FILTER_LENGTH);
    expect(() => parseFilter(padded)).not.toThrow();
  });
});

describe("parseFilter: invalid filters", () => {
  const cases: [input: string, fragment: string][] = [
    ["", "filter: is empty"],
    ["   ", "filter: is empty"],
    ["custName eq 'x'", "filter: unknown field 'custName' at position 0 (known fields: id, status,"],
    ["Status eq 'Won'", "unknown field 'Status' at position 0 (did you mean 'status'?)"],
    ["customername eq 'x'", "did you mean 'customerName'?"],
    ["status eq 'Won", "filter: unterminated string starting at position 10"],
    ["customerName eq 'O'Brien'", "unterminated string starting at position 24"],
    ["' or 1 eq 1", "unterminated string starting at position 0"],
    ["status eq 'x' or 1 eq 1", "unknown field '1' at position 17"],
    [
      "status eq 'Won' extra",
      "unexpected 'extra' at position 16 (expected 'and', 'or' or the end of the filter)",
    ],
    ["status eq 'Won' 'Lost'", "unexpected 'Lost' at position 16"],
    ["(status eq 'Won' or customerMarket eq 'US'", "filter: expected ')' at position 42"],
    ["status eq 'Won')", "unexpected ')' at position 15 (no matching '(')"],
    ["status like 'Won'", "unknown operator 'like' at position 7"],
    ["status = 'Won'", "unknown operator '=' at position 7"],
    ["status == 'Won'", "unknown operator '==' at position 7"],
    ["status in ('Won','Lost')", "unknown operator 'in' at position 7"],
    ["status", "expected an operator after 'status' at position 6"],
    ["status eq", "expected a single-quoted value at position 9"],
    ["status eq Won", "expected a single-quoted value at position 10, found 'Won'"],
    ["status eq 1", "expected a single-quoted value at position 10"],
    ["status gt 'Won'", "filter: operator 'gt' needs a date field, 'status' is not one"],
    ["customerName le 'M'", "operator 'le' needs a date field, 'customerName' is not one"],
    [
      "createdDate gt 'not-a-date'",
      "filter: 'not-a-date' is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:mm:ss)",
    ],
    ["createdDate gt '2024-02-30'", "'2024-02-30' is not a date"],
    ["createdDate gt '2024-01-01T24:00:00'", "is not a date"],
    ["createdDate gt '2024-01-01T10:00:00Z'", "is not a date"],
    ["createdDate eq 'yesterday'", "'yesterday' is not a date"],
    ["contains(createdDate,'2024')", "contains() needs a text field, 'createdDate' is a date field"],
    ["contains(customerName 'x')", "expected ',' at position 22"],
    ["contains(customerName,'x'", "expected ')' at position 25"],
    ["contains(customerName,x)", "expected a single-quoted value at position 22"],
    ["contains(nope,'x')", "unknown field 'nope' at position 9"],
    ["status eq 'Won' and", "unexpected end of the filter at position 19 (expected a comparison)"],
    ["and status eq 'Won'", "unknown field 'and' at position 0"],
    ["status eq 'Won' or or status eq 'Lost'", "unknown field 'or' at position 19"],
    ["()", "unexpected ')' at position 1 (expected a field name, 'contains(' or '(')"],
    ["not status eq 'Won'", "unknown field 'not' at position 0"],
    ["status eq 'Won'; drop", "unexpected ';' at position 15"],
    ["status eq 'a\nb'", "filter: control character U+000A at position 12 is not allowed"],
    ["status eq 'Won'\u0000", "control character U+0000 at position 15"],
    ["status\teq 'Won'", "control character U+0009 at position 6"],
    ["status eq 'x\u007f'", "control character U+007F at position 12"],
    ["status eq '\ud800'", "unpaired surrogate U+D800 at position 11"],
    ["stätus eq 'x'", "unknown field 'stätus' at position 0"],
    ["status eq 'Won' ¬ status eq 'x'", "unexpected '¬' at position 16"],
    [`customerName eq '${"x".repeat(MAX_FILTER_LENGTH)}'`, "filter: longer than 2000 characters (got 2018)"],
    [nested(33), "filter: nested deeper than 32 levels at position 32"],
    [orChain(101), "filter: more than 100 comparisons"],
  ];

  it.each(cases)("%j", (input, fragment) => {
    const error = validationError(() => parseFilter(input));
    expect(error.field).toBe("filter");
    expect(error.message).toContain(fragment);
    expect(error.message.startsWith("filter: ")).toBe(true);
  });

  it("rejects the same inputs through validateQuery", () => {
    for (const [input] of cases) {
      expect(validationError(() => validateQuery({ filter: input })).field).toBe("filter");
    }
  });

  it("never echoes raw control characters into the message", () => {
    const error = validationError(() => parseFilter("custo\u0001mer eq 'x'"));
    expect(
      Array.from({ length: error.message.length }, (_, i) => error.message.charCodeAt(i)).some(
        (c) => c < 0x20,
      ),
    ).toBe(false);
  });
});

describe("isDateLiteral", () => {
  it.each([
    ["2024-02-29", true],
    ["2023-02-29", false],
    ["2024-12-31T23:59:59", true],
    ["2024-12-31T23:60:00", false],
    ["2024-13-01", false],
    ["2024-1-01", false],
    ["2024-01-01 10:00:00", false],
  ])("%s -> %s", (value, valid) => {
    expect(isDateLiteral(value)).toBe(valid);
  });
});

describe("validateQuery", () => {
  it("returns an empty query when nothing is given", () => {
    expect(validateQuery({})).toEqual({});
    expect(toQueryParams(validateQuery({}))).toEqual({});
  });

  it("canonicalises the filter and keeps the tree", () => {
    const q = validateQuery({ filter: "status eq 'Won'  AND  customerMarket EQ 'US'" });
    expect(q.filter).toBe("status eq 'Won' and customerMarket eq 'US'");
    expect(q.filterAst?.kind).toBe("and");
  });

  it("accepts groupby as a comma-separated string or an array, trimmed", () => {
    expect(validateQuery({ groupby: " status , customerMarket,createdDate " }).groupby).toEqual([
      "status",
      "customerMarket",
      "createdDate",
    ]);
    expect(validateQuery({ groupby: ["status", " wonDate"] }).groupby).toEqual(["status", "wonDate"]);
  });

  it("accepts aggregationLevel with a date field in groupby, case-insensitively", () => {
    expect(validateQuery({ groupby: "customerMarket,wonDate", aggregationLevel: "month" })).toEqual({
      groupby: ["customerMarket", "wonDate"],
      aggregationLevel: "month",
    });
    expect(validateQuery({ groupby: ["createdDate"], aggregationLevel: " Week " }).aggregationLevel).toBe(
      "week",
    );
  });

  it("refuses a filter under the limit whose canonical form is over it, naming the limit", () => {
    // The canonical form puts a space before each quote and around each `or`: 1,997 become 2,196.
    const text = Array.from({ length: 100 }, (_, i) => `status eq'${String(i).padStart(6, "0")}'`).join(
      "or ",
    );
    expect(text).toHaveLength(1_997);
    expect(formatFilter(parseFilter(text))).toHaveLength(2_196);
    const error = validationError(() => validateQuery({ filter: text }));
    expect(error.field).toBe("filter");
    expect(error.message).toBe(
      "filter: longer than 2000 characters once written in canonical form, with single spaces between its parts (got 2196)",
    );
  });

  it("accepts a filter whose canonical form is exactly at the limit, and the stored form validates again", () => {
    const compact = `customerName eq'${"x".repeat(MAX_FILTER_LENGTH - "customerName eq ''".length)}'`;
    const q = validateQuery({ filter: compact });
    expect(q.filter).toHaveLength(MAX_FILTER_LENGTH);
    expect(validateQuery({ filter: q.filter }).filter).toBe(q.filter);
  });

  it("builds upstream query parameters", () => {
    const q = validateQuery({
      filter: "status eq 'Won'",
      groupby: ["customerMarket", "wonDate"],
      aggregationLevel: "day",
    });
    expect(toQueryParams(q)).toEqual({
      filter: "status eq 'Won'",
      groupby: "customerMarket,wonDate",
      aggregationLevel: "day",
    });
  });

  const invalid: [input: QueryInput, field: string, fragment: string][] = [
    [{ groupby: "foo" }, "groupby", "groupby: unknown field 'foo' (known fields: id, status"],
    [{ groupby: "Status" }, "groupby", "did you mean 'status'?"],
    [{ groupby: "status,status" }, "groupby", "groupby: 'status' listed twice"],
    [{ groupby: ["status", " status "] }, "groupby", "'status' listed twice"],
    [{ groupby: "" }, "groupby", "groupby: is empty"],
    [{ groupby: [] }, "groupby", "groupby: is empty"],
    [{ groupby: "status,,customerMarket" }, "groupby", "groupby: empty field name at item 2"],
    [{ groupby: "status," }, "groupby", "empty field name at item 2"],
    [{ groupby: "stat\nus" }, "groupby", "control character U+000A"],
    [{ groupby: Array.from({ length: 17 }, () => "status") }, "groupby", "more than 16 fields (got 17)"],
    [
      { aggregationLevel: "month" },
      "aggregationLevel",
      "aggregationLevel: needs a date field in groupby (date fields: acceptedDate,",
    ],
    [{ groupby: "status", aggregationLevel: "day" }, "aggregationLevel", "needs a date field in groupby"],
    [
      { groupby: "createdDate", aggregationLevel: "year" },
      "aggregationLevel",
      "must be one of day, week, month",
    ],
    [{ groupby: "createdDate", aggregationLevel: "" }, "aggregationLevel", "must be one of day, week, month"],
    [{ filter: "status eq 'Won'", groupby: "nope" }, "groupby", "unknown field 'nope'"],
    [{ filter: "nope eq 'x'", groupby: "nope" }, "filter", "unknown field 'nope'"],
  ];

  it.each(invalid)("%j", (input, field, fragment) => {
    const error = validationError(() => validateQuery(input));
    expect(error.field).toBe(field);
    expect(error.message).toContain(fragment);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("QueryValidationError");
  });
});
