import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  JsonBodyReader,
  MAX_ROW_DEPTH,
  parseReferralPage,
  readReferralPage,
  settleBody,
} from "../../src/partnerCenter/envelope.js";

/** Reads `bytes` as they would arrive, in pieces cut at `cuts`. */
function read(bytes: Buffer, cuts: readonly number[]): unknown {
  const reader = new JsonBodyReader(Buffer.alloc(16));
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (cut <= from || cut >= bytes.length) continue;
    reader.push(bytes.subarray(from, cut));
    from = cut;
  }
  reader.push(bytes.subarray(from));
  const body = reader.end();
  settleBody(body);
  return body;
}

/** Text made mostly of what the reader must not mistake for structure: quotes, backslashes, brackets. */
const awkward = fc.string({
  unit: fc.constantFrom('"', "\\", "{", "}", "[", "]", ",", ":", "a", "é", "😀", " ", "\n"),
  maxLength: 30,
});

const rows = fc.array(
  fc.record({
    id: fc.oneof(fc.stringMatching(/^\d{1,10}$/), fc.nat()),
    status: awkward,
    customerName: fc.option(awkward, { nil: null }),
    createdDate: fc.constantFrom("2026-01-02T03:04:05", null),
    extra: fc.jsonValue({ maxDepth: 2 }),
  }),
  { maxLength: 25 },
);

describe("page body reader", () => {
  it("gives the rows JSON.parse gives, however the body is cut into pieces", () => {
    fc.assert(
      fc.property(rows, fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), (value, cuts, pretty) => {
        const text = JSON.stringify({ Value: value, TotalCount: value.length }, null, pretty ? 1 : undefined);
        const bytes = Buffer.from(text);
        const page = readReferralPage(
          read(
            bytes,
            cuts.map((c) => c % bytes.length),
          ),
          false,
        );
        expect(page.totalCount).toBe(value.length);
        expect(JSON.stringify(page.rows(0, page.rowCount))).toBe(JSON.stringify(JSON.parse(text).Value));
      }),
      { numRuns: 300 },
    );
  });

  it("keeps escaped quotes and backslashes that end a piece inside their string", () => {
    const text = JSON.stringify({
      Value: [
        { id: "1", status: 'a\\"},{"id":"2"' },
        { id: "3", status: "\\" },
      ],
    });
    const bytes = Buffer.from(text);
    // Every cut that lands right after a backslash, one at a time and all at once.
    const afterBackslash = [...bytes.keys()].filter((i) => bytes[i - 1] === 0x5c);
    for (const cuts of [...afterBackslash.map((c) => [c]), afterBackslash]) {
      const page = readReferralPage(read(bytes, cuts), false);
      expect(page.rows(0, page.rowCount)).toEqual([
        { id: "1", status: 'a\\"},{"id":"2"' },
        { id: "3", status: "\\" },
      ]);
    }
  });

  it("rejects a body whose string never ends, or that stops inside a row", () => {
    for (const text of ['{"Value":[{"id":"1","status":"open}]}', '{"Value":[{"id":"1"},{"id":"2"']) {
      expect(() => read(Buffer.from(text), [7, 19])).toThrow(SyntaxError);
    }
  });
});

describe("row nesting", () => {
  /** A row whose `extra` field nests `levels` arrays (the row itself is level 1). */
  const nested = (levels: number): string => `${"[".repeat(levels)}1${"]".repeat(levels)}`;
  const rowText = (id: string, extra: string): string => `{"id":"${id}","status":"open","extra":${extra}}`;
  const page = (...rowTexts: string[]): Buffer =>
    Buffer.from(`{"Value":[${rowTexts.join(",")}],"TotalCount":${rowTexts.length}}`);

  it("refuses a row nested 200,000 deep by its bytes, naming the row, before parsing it", () => {
    const body = read(page(rowText("1", "2"), rowText("2", nested(200_000))), [5, 40, 1_000, 300_000]);
    const lazy = readReferralPage(body, false);
    expect(lazy.rows(0, 1)).toEqual([{ id: "1", status: "open", extra: 2 }]);
    expect(() => lazy.rows(0, 2)).toThrow(`a row nests deeper than ${MAX_ROW_DEPTH} levels (row 1)`);
    expect(() => lazy.rows(1, 2)).toThrow(/deeper than \d+ levels \(row 1\)/);
  });

  it("counts levels exactly, and only brackets outside strings", () => {
    // `extra` at level 2 holding MAX_ROW_DEPTH - 1 arrays reaches MAX_ROW_DEPTH exactly.
    const deepest = rowText("1", nested(MAX_ROW_DEPTH - 1));
    const over = rowText("2", nested(MAX_ROW_DEPTH));
    const quoted = rowText("3", JSON.stringify(`${"[{".repeat(10_000)}\\"]`));
    const lazy = readReferralPage(read(page(deepest, quoted, over), [17, 90]), false);
    expect(lazy.rows(0, 2)).toHaveLength(2);
    expect(() => lazy.rows(0, 3)).toThrow("(row 2)");
  });

  it("refuses the same rows when the body was parsed whole (no lazy bytes)", () => {
    const parsed = JSON.parse(
      page(rowText("1", nested(MAX_ROW_DEPTH - 1)), rowText("2", nested(200_000))).toString(),
    ) as unknown;
    expect(() => parseReferralPage(parsed, false)).toThrow(
      `a row nests deeper than ${MAX_ROW_DEPTH} levels (row 1)`,
    );
    expect(
      parseReferralPage(JSON.parse(page(rowText("1", nested(MAX_ROW_DEPTH - 1))).toString()), false).rows,
    ).toHaveLength(1);
  });

  it("applies to group rows too", () => {
    const body = read(Buffer.from(`[{"status":"open","count":1,"x":${nested(1_000)}}]`), []);
    expect(() => readReferralPage(body, true).rows(0, 1)).toThrow("(row 0)");
  });
});
