import { StringDecoder } from "node:string_decoder";
import type { ContainerClient } from "@azure/storage-blob";
import { silentLogger, type Logger } from "../../logging/logger.js";
import { DATE_FIELDS, type ReferralRow } from "../../partnerCenter/fields.js";
import { BlockWriter } from "../blobs/blockWriter.js";
import { createCsvPageFormatter } from "../formats/csv.js";
import { JsonArrayPages } from "../formats/json.js";
import { CHANGE_FEED_FORMATS, changesFileName, CONTENT_TYPES, type ChangeFeedFormat } from "../layout.js";
import { readLatestManifest, type LatestManifest } from "../latestManifest.js";
import { sameQuery } from "../../partnerCenter/query.js";
import { manifestFiles, type Manifest, type ManifestChanges, type ManifestFile } from "../manifest.js";

/** A referral counts as "changed" when one of these differs; other fields are not compared. */
export const COMPARED_FIELDS = ["status", ...DATE_FIELDS] as const;

const previousName = (field: string): string => `previous${field.charAt(0).toUpperCase()}${field.slice(1)}`;
const PREVIOUS_FIELDS = COMPARED_FIELDS.map(previousName);

/**
 * Columns of changes.csv / changes.json: what happened, to which referral, which compared fields
 * differ, then each compared field as it is now and as it was in the previous snapshot.
 */
export const CHANGE_COLUMNS: readonly string[] = [
  "change",
  "id",
  "changedFields",
  ...COMPARED_FIELDS.flatMap((field, i) => [field, PREVIOUS_FIELDS[i] as string]),
];

export type ChangeKind = "added" | "changed" | "removed";

/** Status and dates of one referral, in COMPARED_FIELDS order. */
type Compared = readonly (string | null)[];

const DATE_OFFSET = 1;

// ---------------------------------------------------------------------------------------------
// Compact index of the previous snapshot: id -> fingerprint of (status, dates).

/** Two independent 32-bit hashes of a string, left in these variables to avoid an allocation. */
let hashA = 0;
let hashB = 0;
function hashText(text: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hashA = a >>> 0;
  hashB = (b ^ text.length) >>> 0;
  // (0, 0) marks an empty slot.
  if (hashA === 0 && hashB === 0) hashA = 1;
}

/** How the product writes a date (toRfc3339Utc), whole seconds: already the instant's own text. */
const WRITTEN_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/**
 * Dates are compared as instants, so a change of notation (CSV vs JSON, milliseconds) is no change.
 * Dates as the product writes them are taken as they are: this runs for every date of every row of
 * both snapshots, and `Date.parse` there was most of the feed's cost.
 */
function instantText(value: string): string {
  if (value.length === 20 && WRITTEN_DATE.test(value)) return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString().replace(".000Z", "Z");
}

function fingerprint(values: Compared): void {
  let text = values[0] ?? "\u0001";
  for (let i = DATE_OFFSET; i < values.length; i++) {
    const v = values[i];
    text += v === null || v === undefined ? "\u0000" : `\u0000${instantText(v)}`;
  }
  hashText(text);
}

function differs(index: number, before: string | null, after: string | null): boolean {
  if (before === null || after === null) return before !== after;
  return index < DATE_OFFSET ? before !== after : instantText(before) !== instantText(after);
}

const EMPTY = 0;
const UNSEEN = 1;
const SAME = 2;
const CHANGED = 3;
const DONE = 4;

/**
 * Open-addressing table keyed by two 32-bit hashes of the id, holding two 32-bit hashes of the
 * compared values and a state byte: 17 bytes a slot, a power of two of slots at least twice the
 * previous row count (34-68 bytes a referral; 36 MB for a million, no strings kept).
 */
class SnapshotIndex {
  private idA: Uint32Array;
  private idB: Uint32Array;
  private valueA: Uint32Array;
  private valueB: Uint32Array;
  private states: Uint8Array;
  private used = 0;

  /** Sized from the previous manifest's row count, so a normal load never grows the table. */
  constructor(expectedRows: number) {
    let size = 1 << 12;
    while (size < expectedRows * 2) size *= 2;
    this.idA = new Uint32Array(size);
    this.idB = new Uint32Array(size);
    this.valueA = new Uint32Array(size);
    this.valueB = new Uint32Array(size);
    this.states = new Uint8Array(size);
  }

  get size(): number {
    return this.used;
  }

  /** Adds (or replaces) an id with the fingerprint in hashA/hashB of `values`. */
  insert(id: string, values: Compared): void {
    if (this.used * 2 >= this.states.length) this.grow();
    fingerprint(values);
    const va = hashA;
    const vb = hashB;
    hashText(id);
    const slot = this.slotOf(hashA, hashB);
    if (this.states[slot] === EMPTY) this.used++;
    this.idA[slot] = hashA;
    this.idB[slot] = hashB;
    this.valueA[slot] = va;
    this.valueB[slot] = vb;
    this.states[slot] = UNSEEN;
  }

  /** The slot holding this id, or -1. */
  find(id: string): number {
    hashText(id);
    const slot = this.slotOf(hashA, hashB);
    return this.states[slot] === EMPTY ? -1 : slot;
  }

  /** True when the current values match the previous snapshot's fingerprint. */
  sameValues(slot: number, values: Compared): boolean {
    fingerprint(values);
    return this.valueA[slot] === hashA && this.valueB[slot] === hashB;
  }

  state(slot: number): number {
    return this.states[slot] ?? EMPTY;
  }

  setState(slot: number, state: number): void {
    this.states[slot] = state;
  }

  /** The slot of (a, b), or the empty slot where it belongs. */
  private slotOf(a: number, b: number): number {
    const mask = this.states.length - 1;
    let slot = a & mask;
    while (this.states[slot] !== EMPTY && (this.idA[slot] !== a || this.idB[slot] !== b))
      slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { idA, idB, valueA, valueB, states } = this;
    const size = states.length * 2;
    this.idA = new Uint32Array(size);
    this.idB = new Uint32Array(size);
    this.valueA = new Uint32Array(size);
    this.valueB = new Uint32Array(size);
    this.states = new Uint8Array(size);
    for (let i = 0; i < states.length; i++) {
      if (states[i] === EMPTY) continue;
      const slot = this.slotOf(idA[i] ?? 0, idB[i] ?? 0);
      this.idA[slot] = idA[i] ?? 0;
      this.idB[slot] = idB[i] ?? 0;
      this.valueA[slot] = valueA[i] ?? 0;
      this.valueB[slot] = valueB[i] ?? 0;
      this.states[slot] = states[i] ?? EMPTY;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading a previous snapshot back, as a stream.

function text(value: unknown): string | null {
  if (value === null || value === undefined || value === "") return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

function comparedOf(row: Readonly<Record<string, unknown>>): Compared {
  return COMPARED_FIELDS.map((field) => text(row[field]));
}

/** Text of a blob, decoded as UTF-8 chunk by chunk. */
async function* blobText(
  container: ContainerClient,
  path: string,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const response = await container.getBlobClient(path).download(0, undefined, { abortSignal: signal });
  const body = response.readableStreamBody;
  if (!body) throw new Error(`blob ${path} has no body`);
  const decoder = new StringDecoder("utf8");
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const part = typeof chunk === "string" ? chunk : decoder.write(chunk);
    if (part.length > 0) yield part;
  }
  const rest = decoder.end();
  if (rest.length > 0) yield rest;
}

/** Splits the objects out of a top-level JSON array character by character, whatever its layout. */
class JsonArrayScanner {
  private depth: number;
  private inString = false;
  private escaped = false;
  private pending = "";

  /** `insideArray`: the opening bracket has already been read. */
  constructor(insideArray: boolean) {
    this.depth = insideArray ? 1 : 0;
  }

  *feed(chunk: string): Generator<Record<string, unknown>> {
    let start = this.depth >= 2 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (++this.depth === 2) start = i;
      } else if ((c === 0x7d || c === 0x5d) && --this.depth === 1) {
        const value: unknown = JSON.parse(this.pending + chunk.slice(start, i + 1));
        this.pending = "";
        start = -1;
        if (isObject(value)) yield value;
      }
    }
    if (this.depth >= 2 && start >= 0) this.pending += chunk.slice(start);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A line of the product's JSON layout: a row (with or without its comma), a bracket, or neither. */
function jsonLine(line: string): Record<string, unknown> | "bracket" | undefined {
  if (line === "[" || line === "]" || line === "[]" || line === "") return "bracket";
  const body = line.endsWith(",") ? line.slice(0, -1) : line;
  if (!body.startsWith("{") || !body.endsWith("}")) return undefined;
  try {
    const value: unknown = JSON.parse(body);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The objects of a top-level JSON array, a chunk's worth at a time (one step of an async generator
 * an object made reading a million rows back several seconds slower). The product writes one row
 * per line, so lines are parsed whole (the fast way); any other layout is split character by
 * character.
 */
export async function* jsonArrayObjects(
  chunks: AsyncIterable<string>,
): AsyncGenerator<Record<string, unknown>[]> {
  let scanner: JsonArrayScanner | undefined;
  let insideArray = false;
  let rest = "";
  for await (const chunk of chunks) {
    const batch: Record<string, unknown>[] = [];
    if (scanner) {
      for (const value of scanner.feed(chunk)) batch.push(value);
    } else {
      const text = rest + chunk;
      let start = 0;
      for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
        const line = jsonLine(text.slice(start, end));
        if (line === undefined) break;
        if (line === "bracket") insideArray ||= text.startsWith("[", start);
        else batch.push(line);
        start = end + 1;
      }
      const tail = text.slice(start);
      if (tail.includes("\n")) {
        // A line that is not a row of the product's layout: read the rest character by character.
        scanner = new JsonArrayScanner(insideArray);
        for (const value of scanner.feed(tail)) batch.push(value);
      } else rest = tail;
    }
    if (batch.length > 0) yield batch;
  }
  if (!scanner && rest.length > 0) {
    const line = jsonLine(rest);
    if (line === undefined) yield [...new JsonArrayScanner(insideArray).feed(rest)];
    else if (line !== "bracket") yield [line];
  }
}

/** In an unquoted field: the characters that end a run of plain text. */
const CSV_SPECIAL = /[,"\r]/g;

/**
 * Records of the product's CSV (RFC 4180, CRLF between records), a chunk's worth at a time. A lone
 * CR or LF is data, as the CSV writer leaves it; a leading byte-order mark is skipped.
 */
export async function* csvRecords(chunks: AsyncIterable<string>): AsyncGenerator<string[][]> {
  let record: string[] = [];
  let field = "";
  let quoted = false;
  /** A quote just closed a quoted field (or is the first half of an escaped quote). */
  let closed = false;
  let pendingCr = false;
  let first = true;
  for await (let chunk of chunks) {
    const batch: string[][] = [];
    if (first) {
      first = false;
      if (chunk.startsWith("\ufeff")) chunk = chunk.slice(1);
    }
    let i = 0;
    let nextQuote = -1;
    while (i < chunk.length) {
      if (record.length === 0 && field === "" && !quoted && !closed && !pendingCr) {
        // Between records: whole lines without a quote are split as they are (a lone CR or LF
        // in them is data, as below). Nearly every line of the product's CSV is one.
        for (let end = chunk.indexOf("\r\n", i); end >= 0; end = chunk.indexOf("\r\n", i)) {
          if (nextQuote < i) nextQuote = chunk.indexOf('"', i);
          if (nextQuote >= 0 && nextQuote < end) break;
          batch.push(chunk.slice(i, end).split(","));
          i = end + 2;
        }
        if (i >= chunk.length) break;
      }
      if (quoted) {
        const q = chunk.indexOf('"', i);
        if (q < 0) {
          field += chunk.slice(i);
          break;
        }
        field += chunk.slice(i, q);
        quoted = false;
        closed = true;
        i = q + 1;
        continue;
      }
      const c = chunk.charCodeAt(i);
      if (pendingCr) {
        pendingCr = false;
        if (c === 0x0a) {
          record.push(field);
          batch.push(record);
          record = [];
          field = "";
          closed = false;
          i++;
          continue;
        }
        field += "\r";
      }
      if (c === 0x22) {
        if (closed) field += '"';
        quoted = true;
        closed = false;
        i++;
      } else if (c === 0x2c) {
        record.push(field);
        field = "";
        closed = false;
        i++;
      } else if (c === 0x0d) {
        pendingCr = true;
        i++;
      } else {
        // Plain text up to the next comma, quote or CR, in one slice.
        CSV_SPECIAL.lastIndex = i;
        const stop = CSV_SPECIAL.exec(chunk)?.index ?? chunk.length;
        field += chunk.slice(i, stop);
        closed = false;
        i = stop;
      }
    }
    if (batch.length > 0) yield batch;
  }
  if (pendingCr) field += "\r";
  if (field.length > 0 || record.length > 0) {
    record.push(field);
    yield [record];
  }
}

const READ_FIELDS: readonly string[] = ["id", ...COMPARED_FIELDS];

/** A referral of the previous snapshot: its id and compared fields. */
interface SnapshotRow {
  readonly id: string | null;
  readonly values: Compared;
}

/** Rows of a CSV file, the id and compared fields found by the header. */
async function* csvRows(chunks: AsyncIterable<string>): AsyncGenerator<SnapshotRow[]> {
  let positions: readonly number[] | undefined;
  const cell = (record: readonly string[], i: number): string | null => (i < 0 ? null : text(record[i]));
  for await (const records of csvRecords(chunks)) {
    const rows: SnapshotRow[] = [];
    for (const record of records) {
      if (!positions) {
        positions = READ_FIELDS.map((name) => record.indexOf(name));
        continue;
      }
      const values: (string | null)[] = [];
      for (let k = 1; k < positions.length; k++) values.push(cell(record, positions[k] ?? -1));
      rows.push({ id: cell(record, positions[0] ?? -1), values });
    }
    if (rows.length > 0) yield rows;
  }
}

async function* jsonRows(chunks: AsyncIterable<string>): AsyncGenerator<SnapshotRow[]> {
  for await (const objects of jsonArrayObjects(chunks))
    yield objects.map((row) => ({ id: text(row.id), values: comparedOf(row) }));
}

interface SnapshotFile {
  readonly path: string;
  readonly format: "csv" | "json";
  readonly rowCount: number;
}

/** The previous snapshot's rows, a downloaded chunk's worth at a time. */
function snapshotRows(
  container: ContainerClient,
  file: SnapshotFile,
  signal: AbortSignal,
): AsyncGenerator<SnapshotRow[]> {
  const chunks = blobText(container, file.path, signal);
  return file.format === "json" ? jsonRows(chunks) : csvRows(chunks);
}

/**
 * CSV is read in preference to JSON: a third of the bytes to download, and the compared fields
 * (id, status, dates) never begin with a character the CSV's formula guard would touch.
 */
function comparableFile(manifest: LatestManifest): SnapshotFile | undefined {
  for (const format of ["csv", "json"] as const) {
    const file = manifest.files.find((f) => f.format === format);
    if (file) return { path: file.path, format, rowCount: manifest.rowCount ?? 0 };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Writing the feed.

interface FeedSink {
  readonly format: ChangeFeedFormat;
  readonly path: string;
  readonly writer: BlockWriter;
  write(row: Record<string, unknown>): void;
  end(): void;
}

/** A feed file is written like the data files: rendered by the page formatters into a BlockWriter. */
function openSink(format: ChangeFeedFormat, options: ChangeFeedOptions, signal: AbortSignal): FeedSink {
  const path = `${options.folder}${changesFileName(format)}`;
  const writer = new BlockWriter(options.container.getBlockBlobClient(path), CONTENT_TYPES[format], {
    abortSignal: signal,
  });
  const formatter =
    format === "csv"
      ? createCsvPageFormatter({
          columns: CHANGE_COLUMNS,
          formulaGuard: options.csvFormulaGuard,
          bom: options.csvBom,
        })
      : new JsonArrayPages();
  return {
    format,
    path,
    writer,
    write:
      format === "csv"
        ? // A list does not fit a CSV cell: names are joined with ';'.
          (row) => {
            formatter.format(
              [{ ...row, changedFields: (row.changedFields as string[]).join(";") }],
              writer.append,
            );
          }
        : (row) => {
            formatter.format([row], writer.append);
          },
    end: () => {
      formatter.end(writer.append);
      writer.finish().catch(() => undefined); // its outcome is writer.result
    },
  };
}

function feedRow(
  change: ChangeKind,
  id: string,
  current: Compared | null,
  previous: Compared | null,
  changedFields: readonly string[],
): Record<string, unknown> {
  const row: Record<string, unknown> = { change, id, changedFields };
  COMPARED_FIELDS.forEach((field, i) => {
    row[field] = current?.[i] ?? null;
    row[PREVIOUS_FIELDS[i] as string] = previous?.[i] ?? null;
  });
  return row;
}

export interface ChangeFeedOptions {
  readonly container: ContainerClient;
  readonly profile: string;
  readonly runId: string;
  /** The run folder the feed is written to. */
  readonly folder: string;
  readonly query: Manifest["query"];
  readonly csvFormulaGuard: boolean;
  readonly csvBom: boolean;
  readonly signal: AbortSignal;
  readonly logger?: Logger;
}

/**
 * The change feed of a raw export. The previous snapshot (the run `latest/_manifest.json` names
 * when this run starts) is read once into a compact index of id -> fingerprint of status and
 * dates. While the export streams, new ids are written as "added" at once; ids whose fingerprint
 * differs are marked, and their current values kept. At the end the previous snapshot is read a
 * second time for the old values of changed referrals and for the referrals that disappeared.
 * Memory: 34-68 bytes per previous referral plus the compared values of changed ones.
 */
export class ChangeFeed {
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  private readonly sinks: FeedSink[];
  private readonly failure: Promise<never>;
  private readonly ready: Promise<SnapshotIndex | undefined>;
  private readonly current = new Map<string, Compared>();
  private added = 0;
  /** Rows written since the last wait for the uploads. */
  private unsent = false;

  private constructor(
    private readonly options: ChangeFeedOptions,
    private readonly previousRunId: string | null,
    private readonly note: string | null,
    private readonly baseline: SnapshotFile | undefined,
  ) {
    this.signal = AbortSignal.any([options.signal, this.abort.signal]);
    this.sinks = CHANGE_FEED_FORMATS.map((format) => openSink(format, options, this.signal));
    this.failure = new Promise<never>((_, reject) => {
      for (const sink of this.sinks) sink.writer.result.catch(reject);
    });
    this.failure.catch(() => undefined);
    this.ready = baseline ? this.load(baseline) : Promise.resolve(undefined);
    this.ready.catch(() => undefined);
  }

  /** Finds the previous snapshot and starts reading it; the feed's files are opened at once. */
  static async open(options: ChangeFeedOptions): Promise<ChangeFeed> {
    const logger = options.logger ?? silentLogger;
    const previous = await readLatestManifest(options.container, options.profile, options.signal);
    let note: string | null = null;
    let baseline: SnapshotFile | undefined;
    if (previous === "missing") note = "No previous snapshot: this is the profile's first published run";
    else if (previous === "unreadable") note = "The previous manifest could not be read";
    else if (previous.runId === options.runId) note = "This run is already the latest snapshot";
    else if (!sameQuery(options.query, previous.query))
      note = `The previous snapshot (${previous.runId}) used a different query`;
    else {
      baseline = comparableFile(previous);
      if (!baseline)
        note = `The previous snapshot (${previous.runId}) has no CSV or JSON file to compare with`;
    }
    const previousRunId = baseline && typeof previous === "object" ? previous.runId : null;
    if (note) logger.info("Change feed starts a new baseline", { note });
    return new ChangeFeed(options, previousRunId, note, baseline);
  }

  /** Notes a page of normalised rows; "added" rows are written straight away. */
  async add(rows: readonly ReferralRow[]): Promise<void> {
    const index = await this.ready;
    if (!index) return;
    for (const row of rows) {
      const id = text(row.id);
      if (id === null) continue;
      const values = comparedOf(row);
      const slot = index.find(id);
      if (slot < 0) {
        this.added++;
        this.write(feedRow("added", id, values, null, []));
      } else if (index.state(slot) === UNSEEN) {
        if (index.sameValues(slot, values)) index.setState(slot, SAME);
        else {
          index.setState(slot, CHANGED);
          this.current.set(id, values);
        }
      }
    }
    await this.drained();
  }

  /** Writes "changed" and "removed" rows, closes the files and returns the manifest's section. */
  async finish(): Promise<ManifestChanges> {
    const index = await this.ready;
    let changed = 0;
    let removed = 0;
    if (index && this.baseline) {
      for await (const rows of snapshotRows(this.options.container, this.baseline, this.signal)) {
        for (const { id, values: before } of rows) {
          if (id === null) continue;
          const slot = index.find(id);
          if (slot < 0) continue;
          const state = index.state(slot);
          if (state === UNSEEN) {
            removed++;
            this.write(feedRow("removed", id, null, before, []));
          } else if (state === CHANGED) {
            const after = this.current.get(id);
            this.current.delete(id);
            const fields = after
              ? COMPARED_FIELDS.filter((_, i) => differs(i, before[i] ?? null, after[i] ?? null))
              : [];
            if (after && fields.length > 0) {
              changed++;
              this.write(feedRow("changed", id, after, before, fields));
            }
          }
          if (state !== SAME) index.setState(slot, DONE);
        }
        await this.drained();
      }
    }
    for (const sink of this.sinks) sink.end();
    const written = await Promise.race([Promise.all(this.sinks.map((s) => s.writer.result)), this.failure]);
    const rowCount = this.added + changed + removed;
    const files: ManifestFile[] = manifestFiles(this.sinks, written, rowCount);
    return {
      previousRunId: this.previousRunId,
      note: this.note,
      comparedFields: [...COMPARED_FIELDS],
      added: this.added,
      changed,
      removed,
      files,
    };
  }

  /** Stops reading and writing; nothing of the feed is committed. */
  async cancel(): Promise<void> {
    this.abort.abort();
    for (const sink of this.sinks) sink.writer.abort(new Error("export aborted"));
    await Promise.allSettled([this.ready, ...this.sinks.map((s) => s.writer.result)]);
  }

  private write(row: Record<string, unknown>): void {
    for (const sink of this.sinks) sink.write(row);
    this.unsent = true;
  }

  /**
   * Waits while a file's upload is behind, so at most a few blocks of feed are in memory; a failed
   * upload rejects. Not raced against `failure`: that promise stays pending for the whole run, and
   * every race would leave a reaction on it (a million rows read back at the end were 370 MB).
   */
  private async drained(): Promise<void> {
    if (!this.unsent) return;
    this.unsent = false;
    await Promise.all(this.sinks.map(async (s) => s.writer.ready()));
  }

  private async load(file: SnapshotFile): Promise<SnapshotIndex> {
    const index = new SnapshotIndex(file.rowCount);
    for await (const rows of snapshotRows(this.options.container, file, this.signal))
      for (const { id, values } of rows) if (id !== null) index.insert(id, values);
    return index;
  }
}
