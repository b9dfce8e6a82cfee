import { Worker } from "node:worker_threads";
import { BlockWriter, type WrittenBlob } from "../blobs/blockWriter.js";
import { CONTENT_TYPES } from "../layout.js";
import type { ColumnSchema } from "../schema.js";
import type { FormatRow, FormatWriter, FormatWriterOptions } from "./formatWriter.js";
import { builder, converter, schemaElement, type ColumnBuilder, type Converter } from "./parquetColumns.js";
import type { EncoderData, EncoderReply, EncoderRequest } from "./parquetMessages.js";

/**
 * Rows per row group: one Partner Center page. The encoder holds each column of a group several
 * times over while it encodes, so the group size, not the row count, sets Parquet's share of
 * memory (measured: ~30 MB at 10,000 rows, ~75 MB at 20,000); readers still get groups of about
 * 400 KB, with statistics to skip them by.
 */
export const PARQUET_ROW_GROUP_ROWS = 10_000;
/** A group also closes at this many bytes of text, so unusually long values cannot blow it up. */
export const PARQUET_ROW_GROUP_TEXT_BYTES = 4 * 1024 * 1024;

export interface ParquetFormatOptions {
  readonly columns: readonly ColumnSchema[];
  readonly rowGroupRows?: number;
  readonly rowGroupTextBytes?: number;
  readonly createdBy?: string;
  /** Heap of the encoder's thread, in MB (default ENCODER_HEAP_MB). */
  readonly encoderHeapMb?: number;
}

/**
 * The encoder's own heap. A 10,000-row group needs about 30 MB while it is encoded; the rest is
 * room for garbage, which the small heap makes V8 collect every few groups. Were a group ever to
 * need more, the encoder would fail the run (nothing is published), not the process.
 */
export const ENCODER_HEAP_MB = 24;
/** Groups handed to the encoder and not yet back: one being encoded, one waiting. */
const GROUPS_IN_FLIGHT = 2;
/** The worker runs from its TypeScript source under the tests, from dist/ otherwise. */
const WORKER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./parquetWorker.ts" : "./parquetWorker.js",
  import.meta.url,
);

/**
 * Renders a Parquet file a page of rows at a time. Rows are held column by column until a row
 * group fills up; the group then goes to the encoder's thread (parquetWorker.ts), whose bytes come
 * back in file order and wait in `take()` until the caller sends them on (ParquetFileWriter, below).
 * Shaped like the text formats' page formatters, plus `ready()` (at most two groups are with the
 * encoder) and an asynchronous `end()`; `close()` stops the encoder when a run is abandoned.
 */
export class ParquetPages {
  private readonly columns: readonly ColumnSchema[];
  private readonly convert: readonly Converter[];
  private readonly groupRows: number;
  private readonly groupBytes: number;
  private readonly worker: Worker;
  private readonly replies: { resolve: (reply: EncoderReply) => void; reject: (error: Error) => void }[] = [];
  private readonly inFlight: Promise<void>[] = [];
  private encoded: Buffer[] = [];
  private failure: Error | undefined;
  private builders: ColumnBuilder[];
  private rowsInGroup = 0;
  private textBytes = 0;

  constructor(options: ParquetFormatOptions) {
    this.columns = [...options.columns];
    this.convert = this.columns.map(converter);
    this.groupRows = options.rowGroupRows ?? PARQUET_ROW_GROUP_ROWS;
    this.groupBytes = options.rowGroupTextBytes ?? PARQUET_ROW_GROUP_TEXT_BYTES;
    this.builders = this.newGroup();
    const workerData: EncoderData = {
      schema: [{ name: "root", num_children: this.columns.length }, ...this.columns.map(schemaElement)],
      names: this.columns.map((c) => c.name),
      createdBy: options.createdBy ?? "referrals-export",
    };
    const heap = options.encoderHeapMb ?? ENCODER_HEAP_MB;
    this.worker = new Worker(WORKER_URL, {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: heap, maxYoungGenerationSizeMb: Math.max(4, heap / 8) },
      stdout: false,
      stderr: false,
    });
    this.worker.on("message", (reply: EncoderReply) => this.replies.shift()?.resolve(reply));
    this.worker.on("error", (error: Error) => {
      this.fail(new Error(`the Parquet encoder failed: ${error.message}`));
    });
    this.worker.on("exit", (code) => {
      this.fail(new Error(`the Parquet encoder stopped (exit code ${code})`));
    });
  }

  /** Takes a page of rows; a full row group goes to the encoder. Throws for a value its column cannot hold. */
  format(rows: readonly Readonly<Record<string, unknown>>[]): void {
    const { columns, convert } = this;
    const width = columns.length;
    for (const row of rows) {
      // this.builders, not a local: a group that closes mid-page starts new ones.
      const builders = this.builders;
      const at = this.rowsInGroup;
      for (let j = 0; j < width; j++) {
        const value = (convert[j] as Converter)(row[(columns[j] as ColumnSchema).name]);
        if (typeof value === "string") this.textBytes += value.length;
        (builders[j] as ColumnBuilder).add(value, at);
      }
      if (++this.rowsInGroup >= this.groupRows || this.textBytes >= this.groupBytes) this.closeGroup();
    }
  }

  /** Resolves once no more than two groups are with the encoder; rejects if it failed. */
  async ready(): Promise<void> {
    while (this.inFlight.length > GROUPS_IN_FLIGHT && this.failure === undefined) await this.inFlight[0];
    if (this.failure) throw this.failure;
  }

  /** Encodes the last row group and the footer; the encoder's thread is gone afterwards. */
  async end(): Promise<void> {
    this.closeGroup();
    this.request({ type: "finish" }, []);
    try {
      await Promise.all(this.inFlight);
      if (this.failure) throw this.failure;
    } finally {
      this.close();
    }
  }

  /** The bytes encoded since the last call, in file order. */
  take(): Buffer[] {
    const out = this.encoded;
    this.encoded = [];
    return out;
  }

  /** Stops the encoder (a run that fails part-way); idempotent. */
  close(): void {
    this.fail(new Error("the Parquet file was abandoned"));
  }

  /** Parquet is built from rows, never from text. */
  readonly append = (): void => {
    throw new TypeError("a Parquet file takes rows, not text");
  };

  private newGroup(): ColumnBuilder[] {
    return this.columns.map((c) => builder(c, this.groupRows));
  }

  private closeGroup(): void {
    if (this.rowsInGroup === 0) return;
    const rows = this.rowsInGroup;
    const packed = this.builders.map((b) => b.pack(rows));
    this.request(
      { type: "group", rows, columns: packed.map((p) => p.column) },
      packed.flatMap((p) => p.transfer),
    );
    this.builders = this.newGroup();
    this.rowsInGroup = 0;
    this.textBytes = 0;
  }

  private request(request: EncoderRequest, transfer: ArrayBuffer[]): void {
    if (this.failure) return;
    const done = new Promise<EncoderReply>((resolve, reject) => this.replies.push({ resolve, reject })).then(
      (reply) => {
        for (const chunk of reply.chunks) this.encoded.push(Buffer.from(chunk));
      },
    );
    const tracked = done.finally(() => {
      const at = this.inFlight.indexOf(tracked);
      if (at >= 0) void this.inFlight.splice(at, 1);
    });
    tracked.catch(() => undefined); // awaited by ready() and end(); a failure is kept in this.failure
    this.inFlight.push(tracked);
    this.worker.postMessage(request, transfer);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const pending of this.replies.splice(0)) pending.reject(error);
    void this.worker.terminate();
  }
}

/**
 * A Parquet file of a run: rows go to its ParquetPages, whose encoded bytes are handed to the blob
 * at each page boundary; a flush then waits for the uploads and for the encoder.
 */
class ParquetFileWriter implements FormatWriter {
  readonly format = "parquet";
  readonly path: string;
  readonly result: Promise<WrittenBlob>;
  private readonly pages: ParquetPages;
  private readonly blob: BlockWriter;

  constructor(columns: readonly ColumnSchema[], options: FormatWriterOptions) {
    this.path = options.path;
    this.pages = new ParquetPages({ columns });
    this.blob = new BlockWriter(options.container.getBlockBlobClient(options.path), CONTENT_TYPES.parquet, {
      abortSignal: options.signal,
    });
    this.result = this.blob.result;
  }

  write(rows: readonly FormatRow[]): void {
    this.pages.format(rows);
  }

  async flush(): Promise<void> {
    this.send();
    await Promise.all([this.blob.ready(), this.pages.ready()]);
  }

  async end(): Promise<void> {
    await this.pages.end();
    this.send();
    this.blob.finish().catch(() => undefined); // its outcome is this.result
  }

  abort(error: Error): void {
    this.pages.close();
    this.blob.abort(error);
  }

  /** Hands the bytes encoded so far to the blob. */
  private send(): void {
    for (const chunk of this.pages.take()) this.blob.appendBytes(chunk);
  }
}

/** A Parquet file of a run, its columns typed by the schema. */
export function openParquetFile(
  columns: readonly ColumnSchema[],
  options: FormatWriterOptions,
): FormatWriter {
  return new ParquetFileWriter(columns, options);
}
