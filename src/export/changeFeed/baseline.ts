import type { ContainerClient } from "@azure/storage-blob";
import { BlockWriter } from "../blobs/blockWriter.js";
import type { ManifestSideFile } from "../schema.js";
import { fieldText, REFERRALS_FEED, type Compared, type FeedShape } from "./compared.js";

/**
 * The baseline a raw run leaves for the next run's change feed: per row its key (compared.ts:
 * keyOf), the fingerprint of its compared fields and those fields' original values (never the
 * CSV's spreadsheet-guarded text), one tab-separated line each. The next run compares its own
 * baseline with it line by line, from the keys and fingerprints alone, and parses values only for
 * the rows that changed, appeared or disappeared: much less work than reading the previous CSV or
 * JSON back twice.
 *
 *   header:  referrals-export-baseline 1 [<TAB> key=f1,f2] <TAB> compared field ... (referrals:
 *            no key part, `id` implied, as every referral baseline has always been written)
 *   row:     key <TAB> fingerprint A <TAB> fingerprint B <TAB> value ... <LF>
 *
 * Fingerprints are decimal; tab, line feed, carriage return and backslash in a value are escaped
 * (`\t`, `\n`, `\r`, `\\`); null is an empty field (the feed treats an empty value as null). Every
 * raw run writes it, so a line is built with plain concatenation, the cheapest way V8 has.
 */
export const BASELINE_FILE_NAME = "changes.baseline.tsv";
export const BASELINE_CONTENT_TYPE = "text/tab-separated-values; charset=utf-8";
const MAGIC = "referrals-export-baseline 1";

/** The first line of a baseline of this shape: a baseline of other fields is not read as one. */
export function baselineHeader(shape: FeedShape): string {
  const { keyFields } = shape;
  const key = keyFields.length === 1 && keyFields[0] === "id" ? [] : [`key=${keyFields.join(",")}`];
  return `${[MAGIC, ...key, ...shape.comparedFields].join("\t")}\n`;
}

/** The first line of every referrals baseline this version writes and reads. */
export const BASELINE_HEADER = baselineHeader(REFERRALS_FEED);
const NEEDS_ESCAPE = /[\t\n\r\\]/;
const BASELINE_BLOCK_BYTES = 1024 * 1024;

function escape(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\t\n\r\\]/g, (c) =>
    c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\\\",
  );
}

function unescape(text: string): string | null {
  if (text === "") return null;
  if (!text.includes("\\")) return text;
  return text.replace(/\\(.)/g, (_, c: string) =>
    c === "t" ? "\t" : c === "n" ? "\n" : c === "r" ? "\r" : c,
  );
}

/** A row's line (without its line feed), its compared fields read straight from the row (no array a row). */
export function baselineLine(
  key: string,
  fingerprintA: number,
  fingerprintB: number,
  row: Readonly<Record<string, unknown>>,
  shape: FeedShape = REFERRALS_FEED,
): string {
  const fields = shape.comparedFields;
  let line = escape(key) + "\t" + String(fingerprintA) + "\t" + String(fingerprintB);
  for (let i = 0; i < fields.length; i++) {
    const value = fieldText(row[fields[i] as string]);
    line += value === null ? "\t" : "\t" + escape(value);
  }
  return line;
}

/** Writes a run's baseline as its rows stream past. */
export class BaselineWriter {
  private readonly blob: BlockWriter;

  constructor(
    container: ContainerClient,
    readonly path: string,
    signal: AbortSignal,
    private readonly shape: FeedShape = REFERRALS_FEED,
  ) {
    // Small blocks: the baseline is written beside the data files on every raw run, and its
    // buffers count against the same memory (a million-referral Parquet export must stay under
    // 256 MB); a 130 MB baseline is then 130 blocks, far below Blob Storage's 50,000.
    this.blob = new BlockWriter(container.getBlockBlobClient(path), BASELINE_CONTENT_TYPE, {
      abortSignal: signal,
      blockSize: BASELINE_BLOCK_BYTES,
      concurrency: 2,
    });
    this.blob.append(baselineHeader(shape));
  }

  /** Lines gathered for one slice of rows, handed to the blob together. */
  private pending = "";

  /** One row's line. */
  add(key: string, fingerprintA: number, fingerprintB: number, row: Readonly<Record<string, unknown>>): void {
    this.pending += baselineLine(key, fingerprintA, fingerprintB, row, this.shape) + "\n";
  }

  /** Hands the lines added since the last call to the blob. */
  commitLines(): void {
    if (this.pending.length === 0) return;
    this.blob.append(this.pending);
    this.pending = "";
  }

  /** Waits while its upload is behind (a page at a time, like the data files). */
  flush(): Promise<void> {
    return this.blob.ready();
  }

  async end(): Promise<ManifestSideFile> {
    this.commitLines();
    this.blob.finish().catch(() => undefined); // its outcome is result
    const written = await this.blob.result;
    return {
      path: this.path,
      contentType: BASELINE_CONTENT_TYPE,
      bytes: written.bytes,
      sha256: written.sha256,
    };
  }

  abort(error: Error): Promise<unknown> {
    this.blob.abort(error);
    return this.blob.result.catch(() => undefined);
  }
}

export class BaselineFormatError extends Error {
  override readonly name = "BaselineFormatError";
  readonly reason = "unreadable_baseline";
}

export function isBaselineFormatError(error: unknown): error is BaselineFormatError {
  return error instanceof BaselineFormatError;
}

/**
 * One line of a baseline: the fingerprints, and where the id and the values lie in `text`. The
 * readers reuse one object for every line, so reading a million lines makes no object and no string
 * a line; the id and the values become strings only when asked for (a referral the feed reports).
 */
export class BaselineLine {
  constructor(readonly shape: FeedShape = REFERRALS_FEED) {}

  text = "";
  /** The id: text[start, idEnd), escaped as written (equal ids are equal texts). */
  start = 0;
  idEnd = 0;
  /** The values: text[valuesStart, end), tab-separated, escaped. */
  valuesStart = 0;
  end = 0;
  fingerprintA = 0;
  fingerprintB = 0;

  /** Takes text[start, end) (a line without its line feed) as this line; false when it is malformed. */
  read(text: string, start: number, end: number): boolean {
    const a = text.indexOf("\t", start);
    const b = a < 0 ? -1 : text.indexOf("\t", a + 1);
    const c = b < 0 ? -1 : text.indexOf("\t", b + 1);
    if (c < 0 || c > end) return false;
    this.fingerprintA = fingerprintAt(text, a + 1, b);
    this.fingerprintB = fingerprintAt(text, b + 1, c);
    this.text = text;
    this.start = start;
    this.idEnd = a;
    this.valuesStart = c + 1;
    this.end = end;
    return this.fingerprintA >= 0 && this.fingerprintB >= 0;
  }

  id(): string {
    return unescape(copyOf(this.text.slice(this.start, this.idEnd))) ?? "";
  }

  /** The id as written, to look it up by (a view into `text`: not to be kept). */
  idText(): string {
    return this.text.slice(this.start, this.idEnd);
  }

  values(): Compared {
    return baselineValues(copyOf(this.text.slice(this.valuesStart, this.end)), this.shape);
  }

  /** The line's text, holding on to nothing else. */
  copy(): string {
    return copyOf(this.text.slice(this.start, this.end));
  }

  sameId(other: BaselineLine): boolean {
    const length = this.idEnd - this.start;
    if (other.idEnd - other.start !== length) return false;
    for (let i = 0; i < length; i++)
      if (this.text.charCodeAt(this.start + i) !== other.text.charCodeAt(other.start + i)) return false;
    return true;
  }

  sameFingerprint(other: BaselineLine): boolean {
    return this.fingerprintA === other.fingerprintA && this.fingerprintB === other.fingerprintB;
  }
}

/**
 * A string of its own. A slice of 13 or more characters is a view that keeps the whole text it
 * was cut from alive (here a downloaded chunk); a value kept until the end of a run must not keep
 * its chunk. The text was decoded from UTF-8, so the round trip gives it back exactly.
 */
function copyOf(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, "utf8").toString("utf8");
}

/** The decimal fingerprint in text[from, to), or -1 when it is not one. */
function fingerprintAt(text: string, from: number, to: number): number {
  if (to <= from || to - from > 10) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value > 0xffffffff ? -1 : value;
}

/** A blob's bytes as they download. */
async function* blobBytes(
  container: ContainerClient,
  path: string,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  const response = await container.getBlobClient(path).download(0, undefined, { abortSignal: signal });
  const body = response.readableStreamBody;
  if (!body) throw new Error(`blob ${path} has no body`);
  for await (const chunk of body as AsyncIterable<Buffer | string>)
    yield typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
}

const NO_BYTES = Buffer.alloc(0);

/**
 * A baseline read a line at a time, pulled by its reader: `next` moves to the next line of the text
 * at hand, `more` downloads the next chunk. Two of them are walked side by side to compare two
 * baselines. Each chunk is decoded up to its last line feed, together with the bytes the chunk
 * before left over, so the text at hand is whole lines in one flat string: reading characters from
 * a string glued from two (a leftover and a chunk) is several times slower.
 */
export class BaselineCursor extends BaselineLine {
  private chunk = "";
  private position = 0;
  private header = true;
  /** Bytes after the last line feed of the chunks so far (a copy). */
  private carry = NO_BYTES;

  private readonly expectedHeader: string;

  constructor(
    private readonly chunks: AsyncIterator<Uint8Array>,
    readonly path: string,
    shape: FeedShape = REFERRALS_FEED,
  ) {
    super(shape);
    this.expectedHeader = baselineHeader(shape);
  }

  static open(
    container: ContainerClient,
    path: string,
    signal: AbortSignal,
    shape: FeedShape,
  ): BaselineCursor {
    return new BaselineCursor(blobBytes(container, path, signal), path, shape);
  }

  /** Moves to the next line of the text at hand; false when there is none (then `more`). */
  next(): boolean {
    for (;;) {
      if (this.position >= this.chunk.length) return false;
      const start = this.position;
      const end = this.chunk.indexOf("\n", start);
      this.position = end + 1;
      if (this.header) {
        if (this.chunk.slice(start, end + 1) !== this.expectedHeader)
          throw new BaselineFormatError(`${this.path} is not a baseline this version reads`);
        this.header = false;
        continue;
      }
      if (!this.read(this.chunk, start, end))
        throw new BaselineFormatError(`${this.path} has a malformed line`);
      return true;
    }
  }

  /** Downloads until there are whole lines at hand; false at the end of the file. */
  async more(): Promise<boolean> {
    for (;;) {
      const next = await this.chunks.next();
      if (next.done === true) {
        if (this.carry.length > 0 || this.header)
          throw new BaselineFormatError(`${this.path} ends in the middle of a line`);
        this.chunk = "";
        this.position = 0;
        return false;
      }
      const value = next.value;
      const bytes =
        this.carry.length === 0
          ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
          : Buffer.concat([this.carry, value]);
      const last = bytes.lastIndexOf(10);
      // A line feed is never part of another character's UTF-8, so whole lines decode alone.
      this.carry = Buffer.from(bytes.subarray(last + 1));
      if (last < 0) continue;
      this.chunk = bytes.toString("utf8", 0, last + 1);
      this.position = 0;
      return true;
    }
  }

  /** Stops the download (a cursor not read to its end). */
  async close(): Promise<void> {
    await this.chunks.return?.();
  }
}

/** Called for each row of a baseline. */
export type BaselineVisitor = (line: BaselineLine) => void;

/**
 * Checks, from its header alone, that a baseline is there and is one this version reads: a run that
 * compares at its end learns at its start that it could not.
 */
export async function checkBaseline(
  container: ContainerClient,
  path: string,
  signal: AbortSignal,
  shape: FeedShape,
): Promise<void> {
  const header = baselineHeader(shape);
  const head = await container
    .getBlobClient(path)
    .downloadToBuffer(0, Buffer.byteLength(header), { abortSignal: signal });
  if (head.toString("utf8") !== header)
    throw new BaselineFormatError(`${path} is not a baseline this version reads`);
}

/**
 * Reads a baseline a downloaded chunk at a time, calling `visit` for each row and `afterChunk`
 * between chunks.
 */
export async function readBaseline(
  container: ContainerClient,
  path: string,
  shape: FeedShape,
  signal: AbortSignal,
  visit: BaselineVisitor,
  afterChunk?: () => Promise<void>,
): Promise<void> {
  const cursor = BaselineCursor.open(container, path, signal, shape);
  while (await cursor.more()) {
    while (cursor.next()) visit(cursor);
    if (afterChunk) await afterChunk();
  }
}

/** The values of a baseline line (the text after its fingerprints). */
export function baselineValues(rest: string, shape: FeedShape): Compared {
  const values = rest.split("\t").map(unescape);
  if (values.length !== shape.comparedFields.length)
    throw new BaselineFormatError("a baseline line has the wrong number of values");
  return values;
}
