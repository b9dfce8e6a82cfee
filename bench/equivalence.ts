/**
 * The export's fast paths must write exactly what the plain ones would, or their speed means
 * nothing. Before measuring, the benchmark compares them on random input (fast-check):
 *
 * - createCsvPageFormatter against createCsvStringifier (csv-stringify),
 * - JsonArrayPages against JsonArrayStream,
 * - JsonBodyReader (then settleBody and every lazy array parsed) against JSON.parse, on valid,
 *   damaged and cut documents split into random chunks,
 * - BlockWriter's committed bytes, size and SHA-256 against the bytes appended.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { BlockWriter } from "../src/export/blobs/blockWriter.js";
import { fakeBlockBlob } from "../test/support/fakeBlockBlob.js";
import { createCsvPageFormatter, createCsvStringifier, type CsvOptions } from "../src/export/formats/csv.js";
import { JsonArrayPages, JsonArrayStream } from "../src/export/formats/json.js";
import { JsonBodyReader, LazyJsonArray, settleBody } from "../src/partnerCenter/envelope.js";

export interface EquivalenceCheck {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

const RUNS = 400;

type Row = Record<string, unknown>;

async function streamed(stream: NodeJS.ReadWriteStream, rows: readonly Row[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer | string) => chunks.push(Buffer.from(chunk)));
  const done = new Promise<void>((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  for (const row of rows) stream.write(row as unknown as string);
  stream.end();
  await done;
  return Buffer.concat(chunks);
}

function paged(
  formatter: {
    format(rows: readonly Row[], write: (t: string) => void): void;
    end(write: (t: string) => void): void;
  },
  rows: readonly Row[],
  cuts: readonly number[],
): Buffer {
  const out: Buffer[] = [];
  const write = (text: string): void => {
    out.push(Buffer.from(text, "utf8"));
  };
  let from = 0;
  for (const size of cuts) {
    formatter.format(rows.slice(from, from + size), write);
    from += size;
  }
  formatter.format(rows.slice(from), write);
  formatter.end(write);
  return Buffer.concat(out);
}

const text = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.constantFrom(
    "",
    " x",
    "x ",
    "a,b",
    'a"b',
    "a\nb",
    "a\rb",
    "a\r\nb",
    "=1",
    "+1",
    "-1",
    "@a",
    "\tx",
    "\u00a0x",
  ),
);
const value = fc.oneof(
  text,
  fc.constant(null),
  fc.constant(undefined),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);
const rowsArb = fc.array(fc.dictionary(fc.constantFrom("a", "b", "c", "d"), value), { maxLength: 25 });
const cutsArb = fc.array(fc.nat(8), { maxLength: 4 });

async function csvAndJson(): Promise<EquivalenceCheck[]> {
  let csvCase = "";
  let jsonCase = "";
  await fc
    .assert(
      fc.asyncProperty(
        rowsArb,
        cutsArb,
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(["a", "b", "c"], ["c", "a"], ["a", "x.y", "b"], ["d"]),
        async (rows, cuts, formulaGuard, bom, columns) => {
          const options: CsvOptions = { columns, formulaGuard, bom };
          const csvSame = (await streamed(createCsvStringifier(options), rows)).equals(
            paged(createCsvPageFormatter(options), rows, cuts),
          );
          if (!csvSame) csvCase = JSON.stringify({ rows, options, cuts });
          const jsonSame = (await streamed(new JsonArrayStream(), rows)).equals(
            paged(new JsonArrayPages(), rows, cuts),
          );
          if (!jsonSame) jsonCase = JSON.stringify({ rows, cuts });
          return csvSame && jsonSame;
        },
      ),
      { numRuns: RUNS },
    )
    .catch(() => undefined);
  return [
    {
      name: "CSV page formatter = csv-stringify",
      passed: csvCase === "",
      detail: csvCase || `${RUNS} random pages`,
    },
    {
      name: "JSON page formatter = JsonArrayStream",
      passed: jsonCase === "",
      detail: jsonCase || `${RUNS} random pages`,
    },
  ];
}

/** A value with every lazy array parsed, own `__proto__` keys kept as plain keys (as JSON.parse does). */
function materialise(value: unknown): unknown {
  if (value instanceof LazyJsonArray) return value.slice();
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const object = value as Row;
    for (const key of Object.keys(object)) {
      const member = object[key];
      if (member instanceof LazyJsonArray)
        Object.defineProperty(object, key, {
          value: member.slice(),
          writable: true,
          enumerable: true,
          configurable: true,
        });
    }
  }
  return value;
}

/** JSON text with own keys in order; `__proto__` spelled out, so a lost or misplaced one shows. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).map((k) => [k === "__proto__" ? "<__proto__>" : k, (v as Row)[k]]))
      : v,
  );
}

function outcome(read: () => unknown): string {
  try {
    return `ok ${canonical(read())}`;
  } catch (error) {
    return error instanceof SyntaxError ? "SyntaxError" : `threw ${String(error)}`;
  }
}

function readBody(bytes: Buffer, cuts: readonly number[]): unknown {
  const reader = new JsonBodyReader(Buffer.alloc(8));
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= from || cut >= bytes.length) continue;
    reader.push(bytes.subarray(from, cut));
    from = cut;
  }
  reader.push(bytes.subarray(from));
  const value = reader.end();
  settleBody(value);
  return materialise(value);
}

function bodyReader(): EquivalenceCheck {
  const documents = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc
      .record({
        Value: fc.array(fc.jsonValue(), { maxLength: 6 }),
        TotalCount: fc.nat(),
        extra: fc.jsonValue(),
      })
      .map((v) => JSON.stringify(v, null, 1)),
    fc
      .array(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }), { maxLength: 5 })
      .map((v) => JSON.stringify(v)),
    fc.constantFrom(
      '{"__proto__":[1],"a":2}',
      '{"a":[1],"a":[2],"Value":[{"x":"é😀\\"\\\\"}],"TotalCount":"7"}',
      "[ 1 , 2 ,3 ]",
      "\ufeff{}",
      '{"a":-0,"b":1e400,"c":[true,false,null]}',
    ),
  );
  const damage = fc.oneof(
    fc.constant(undefined),
    fc.tuple(
      fc.nat(),
      fc.constantFrom("cut", "insert", "delete", "replace"),
      fc.constantFrom(...Buffer.from(',:[]{}"\\ 1e\xff')),
    ),
  );
  let failure = "";
  fc.assert(
    fc.property(documents, fc.array(fc.nat(), { maxLength: 6 }), damage, (document, cuts, harm) => {
      let bytes = Buffer.from(document);
      if (harm) {
        const [at, kind, byte] = harm;
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        if (kind === "cut") bytes = bytes.subarray(0, i);
        else if (kind === "insert")
          bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
        else if (kind === "delete") bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
        else if (i < bytes.length) {
          bytes = Buffer.from(bytes);
          bytes[i] = byte;
        }
      }
      const expected = outcome(() => JSON.parse(bytes.toString("utf8")));
      const actual = outcome(() =>
        readBody(
          bytes,
          cuts.map((c) => c % (bytes.length + 1)),
        ),
      );
      if (expected !== actual)
        failure = JSON.stringify({ body: bytes.toString("utf8"), cuts, expected, actual });
      return expected === actual;
    }),
    { numRuns: RUNS * 10 },
  );
  return {
    name: "JSON body reader = JSON.parse",
    passed: failure === "",
    detail: failure || `${RUNS * 10} documents`,
  };
}

async function blockWriter(): Promise<EquivalenceCheck> {
  let failure = "";
  await fc
    .assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.string({ unit: "grapheme", maxLength: 60 }), fc.uint8Array({ maxLength: 50 })), {
          maxLength: 60,
        }),
        fc.integer({ min: 1, max: 40 }),
        async (parts, blockSize) => {
          const { blob, committed: committedBytes } = fakeBlockBlob();
          const writer = new BlockWriter(blob, "text/plain", { blockSize, concurrency: 2 });
          const expected: Buffer[] = [];
          for (const part of parts) {
            if (typeof part === "string") writer.append(part);
            else writer.appendBytes(part);
            expected.push(Buffer.from(part));
          }
          const written = await writer.finish();
          const all = Buffer.concat(expected);
          const same =
            committedBytes()?.equals(all) === true &&
            written.bytes === all.length &&
            written.sha256 === createHash("sha256").update(all).digest("hex");
          if (!same) failure = JSON.stringify({ parts: parts.length, blockSize });
          return same;
        },
      ),
      { numRuns: RUNS },
    )
    .catch(() => undefined);
  return {
    name: "block writer: committed bytes, size, SHA-256, MD5 per block",
    passed: failure === "",
    detail: failure || `${RUNS} random files`,
  };
}

export async function checkEquivalence(): Promise<EquivalenceCheck[]> {
  let reader: EquivalenceCheck;
  try {
    reader = bodyReader();
  } catch (error) {
    reader = { name: "JSON body reader = JSON.parse", passed: false, detail: String(error).slice(0, 500) };
  }
  return [...(await csvAndJson()), reader, await blockWriter()];
}
