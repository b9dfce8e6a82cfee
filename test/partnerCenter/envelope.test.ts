import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JsonBodyReader, readReferralPage, settleBody } from "../../src/partnerCenter/envelope.js";

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
