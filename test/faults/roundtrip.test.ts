import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parse } from "csv-parse/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import "../support/canary.js";
import { createCsvStringifier, guardFormula } from "../../src/export/formats/csv.js";
import { JsonArrayStream } from "../../src/export/formats/json.js";
import { REFERRAL_FIELDS } from "../../src/partnerCenter/fields.js";

/**
 * Property-based round trip of the two file formats: arbitrary referral rows (any Unicode, quotes,
 * commas, line breaks, nulls, formula prefixes, invisible and bidirectional characters) written by
 * the product's CSV and JSON writers and read back with independent parsers (csv-parse, JSON.parse)
 * give back the input, except for the documented formula guard (a leading ' on CSV values that start
 * with = + - @ tab or CR) and nulls, which CSV writes as empty fields.
 */
const RUNS = 200;
type Row = Record<string, string | null>;

/** Characters that break naive CSV and JSON writers, weighted in next to arbitrary Unicode. */
const tricky = fc.constantFrom(
  '"',
  ",",
  "\n",
  "\r",
  "\r\n",
  "=",
  "+",
  "-",
  "@",
  "\t",
  " ",
  "'",
  ";",
  "\\",
  "é",
  "株",
  "😀",
  "\u202e", // right-to-left override
  "\u200b", // zero-width space
  "\u2028", // line separator
  "\u0085", // next line (C1)
  "\u0000",
  "\ufeff", // byte-order mark
  "a",
  "1",
);
const text = (unit: fc.Arbitrary<string> | "binary"): fc.Arbitrary<string> =>
  fc.string({ unit, maxLength: 24 });
/** In a `u` regex a surrogate pair is one code point, so this matches only unpaired surrogates. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Well-formed Unicode (what UTF-8 can carry): CSV files are UTF-8 text. */
const wellFormedValue = fc.option(
  fc.oneof(text("binary"), text(tricky)).filter((s) => !LONE_SURROGATE.test(s)),
  { nil: null, freq: 5 },
);
/** Any JavaScript string, lone surrogates included: JSON can carry them as \u escapes. */
const anyValue = fc.option(
  fc.oneof(text("binary"), text(tricky), fc.constantFrom("\ud800", "a\udfff", "\udbff\ud800")),
  {
    nil: null,
    freq: 5,
  },
);
const rowOf = (value: fc.Arbitrary<string | null>): fc.Arbitrary<Row> =>
  fc.record(Object.fromEntries(REFERRAL_FIELDS.map((f) => [f, value])));

async function collect(stream: Readable & Writable, rows: readonly unknown[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from(rows, { objectMode: true }),
    stream,
    new Writable({
      write(chunk: Buffer | string, _enc, done) {
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        done();
      },
    }),
  );
  return Buffer.concat(chunks);
}

const csvExpected = (value: string | null, guard: boolean): string =>
  value === null ? "" : guard ? guardFormula(value) : value;

describe("CSV round trip (createCsvStringifier -> csv-parse)", () => {
  it(`any rows come back as written, modulo the formula guard and nulls (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rowOf(wellFormedValue), { maxLength: 20 }),
        fc.boolean(),
        fc.boolean(),
        async (rows, guard, bom) => {
          const out = await collect(
            createCsvStringifier({ columns: REFERRAL_FIELDS, formulaGuard: guard, bom }),
            rows,
          );
          if (bom) expect(out.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).toBe(true);
          const parsed = parse<Record<string, string>>(out, { columns: true, bom: true });
          expect(parsed).toEqual(
            rows.map((r) =>
              Object.fromEntries(REFERRAL_FIELDS.map((f) => [f, csvExpected(r[f] ?? null, guard)])),
            ),
          );
          // The header is the documented column order.
          expect(
            out
              .toString("utf8")
              .replace(/^\ufeff/, "")
              .split("\r\n")[0],
          ).toBe(REFERRAL_FIELDS.join(","));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("with the guard on, no parsed cell starts with a formula character", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rowOf(wellFormedValue), { minLength: 1, maxLength: 10 }), async (rows) => {
        const out = await collect(
          createCsvStringifier({ columns: REFERRAL_FIELDS, formulaGuard: true, bom: false }),
          rows,
        );
        for (const record of parse<Record<string, string>>(out, { columns: true }))
          for (const cell of Object.values(record)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
      }),
      { numRuns: RUNS },
    );
  });

  it("a line-oriented reader (any of CRLF, LF, CR ends an unquoted record) reads the same rows", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(rowOf(fc.option(text(tricky), { nil: null })), { minLength: 1, maxLength: 10 }),
        async (rows) => {
          const out = await collect(
            createCsvStringifier({ columns: REFERRAL_FIELDS, formulaGuard: true, bom: false }),
            rows,
          );
          const parsed = parse<Record<string, string>>(out, {
            columns: true,
            record_delimiter: ["\r\n", "\n", "\r"],
          });
          expect(parsed.map((r) => r.id)).toEqual(rows.map((r) => csvExpected(r.id ?? null, true)));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("JSON round trip (JsonArrayStream -> JSON.parse)", () => {
  it(`any rows, lone surrogates and extra fields included, come back exactly (${RUNS} runs)`, async () => {
    const extra = fc.dictionary(
      fc.oneof(fc.string(), fc.constantFrom("__proto__", "constructor", "toString")),
      fc.jsonValue(),
      {
        maxKeys: 3,
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(rowOf(anyValue), extra), { maxLength: 20 }), async (pairs) => {
        const rows = pairs.map(([row, more]) => {
          const out: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(more))
            Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
          for (const [k, v] of Object.entries(row))
            Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
          return out;
        });
        const out = await collect(new JsonArrayStream(), rows);
        const text = out.toString("utf8");
        // UTF-8 that decodes without loss, one row per line, one JSON array.
        expect(new TextDecoder("utf-8", { fatal: true }).decode(out)).toBe(text);
        expect(text.split("\n").length).toBe(rows.length === 0 ? 2 : rows.length + 3);
        const parsed = JSON.parse(text) as unknown[];
        expect(parsed).toHaveLength(rows.length);
        parsed.forEach((row, i) => {
          const input = rows[i]!;
          // Every referral field is the very same string (or null), lone surrogates included.
          for (const field of REFERRAL_FIELDS) expect((row as Row)[field]).toBe(input[field]);
          // And the whole row, extra fields and their order included, is the same JSON.
          expect(JSON.stringify(row)).toBe(JSON.stringify(input));
        });
      }),
      { numRuns: RUNS },
    );
  });
});
