import type { ContainerClient } from "@azure/storage-blob";
import { blobText } from "../blobs/blobText.js";
import { BlockWriter } from "../blobs/blockWriter.js";
import type { ManifestSideFile } from "../schema.js";
import { COMPARED_FIELDS, fieldText, type Compared } from "./compared.js";

/**
 * The baseline a raw run leaves for the next run's change feed: per referral its id, the
 * fingerprint of its compared fields and those fields' original values (never the CSV's
 * spreadsheet-guarded text), one tab-separated line each. The next run indexes it from the ids and
 * fingerprints alone, without parsing a value, and reads values only for the referrals that
 * changed or disappeared: much less work than reading the previous CSV or JSON back twice.
 *
 *   header:  referrals-export-baseline 1 <TAB> status <TAB> acceptedDate ...
 *   row:     id <TAB> fingerprint A <TAB> fingerprint B <TAB> value ... <LF>
 *
 * Fingerprints are decimal; tab, line feed, carriage return and backslash in a value are escaped
 * (`\t`, `\n`, `\r`, `\\`); null is an empty field (the feed treats an empty value as null). Every
 * raw run writes it, so a line is built with plain concatenation, the cheapest way V8 has.
 */
export const BASELINE_FILE_NAME = "changes.baseline.tsv";
export const BASELINE_CONTENT_TYPE = "text/tab-separated-values; charset=utf-8";
const MAGIC = "referrals-export-baseline 1";
const HEADER = `${[MAGIC, ...COMPARED_FIELDS].join("\t")}\n`;
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

/** Writes a run's baseline as its rows stream past. */
export class BaselineWriter {
  private readonly blob: BlockWriter;

  constructor(
    container: ContainerClient,
    readonly path: string,
    signal: AbortSignal,
  ) {
    // Small blocks: the baseline is written beside the data files on every raw run, and its
    // buffers count against the same memory (a million-referral Parquet export must stay under
    // 256 MB); a 130 MB baseline is then 130 blocks, far below Blob Storage's 50,000.
    this.blob = new BlockWriter(container.getBlockBlobClient(path), BASELINE_CONTENT_TYPE, {
      abortSignal: signal,
      blockSize: BASELINE_BLOCK_BYTES,
      concurrency: 2,
    });
    this.blob.append(HEADER);
  }

  /** Lines gathered for one slice of rows, handed to the blob together. */
  private pending = "";

  /** One referral's line, its compared fields read straight from the row (no array a row). */
  add(id: string, fingerprintA: number, fingerprintB: number, row: Readonly<Record<string, unknown>>): void {
    let line = escape(id) + "\t" + String(fingerprintA) + "\t" + String(fingerprintB);
    for (let i = 0; i < COMPARED_FIELDS.length; i++) {
      const value = fieldText(row[COMPARED_FIELDS[i] as string]);
      line += value === null ? "\t" : "\t" + escape(value);
    }
    this.pending += line + "\n";
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

/** Called for each referral of a baseline; `rest` holds its values, parsed only when asked (`baselineValues`). */
export type BaselineVisitor = (id: string, fingerprintA: number, fingerprintB: number, rest: string) => void;

/**
 * Reads a baseline a downloaded chunk at a time, calling `visit` for each referral (no object per
 * line: a million lines are read twice a night) and `afterChunk` between chunks.
 */
export async function readBaseline(
  container: ContainerClient,
  path: string,
  signal: AbortSignal,
  visit: BaselineVisitor,
  afterChunk?: () => Promise<void>,
): Promise<void> {
  let carry = "";
  let header = true;
  for await (const chunk of blobText(container, path, signal)) {
    const text = carry + chunk;
    let start = 0;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
      if (header) {
        if (text.slice(start, end + 1) !== HEADER)
          throw new BaselineFormatError(`${path} is not a baseline this version reads`);
        header = false;
      } else {
        const a = text.indexOf("\t", start);
        const b = text.indexOf("\t", a + 1);
        const c = text.indexOf("\t", b + 1);
        if (a < 0 || c < 0 || c > end) throw new BaselineFormatError(`${path} has a malformed line`);
        visit(
          unescape(text.slice(start, a)) ?? "",
          Number(text.slice(a + 1, b)),
          Number(text.slice(b + 1, c)),
          text.slice(c + 1, end),
        );
      }
      start = end + 1;
    }
    carry = text.slice(start);
    if (afterChunk) await afterChunk();
  }
  if (carry.length > 0 || header) throw new BaselineFormatError(`${path} ends in the middle of a line`);
}

/** The values of a baseline line (what `readBaseline` hands over as `rest`). */
export function baselineValues(rest: string): Compared {
  const values = rest.split("\t").map(unescape);
  if (values.length !== COMPARED_FIELDS.length)
    throw new BaselineFormatError("a baseline line has the wrong number of values");
  return values;
}
