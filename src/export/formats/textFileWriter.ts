import { BlockWriter, type WrittenBlob } from "../blobs/blockWriter.js";
import { CONTENT_TYPES, type ExportFormat } from "../layout.js";
import type { FormatRow, FormatWriter, FormatWriterOptions } from "./formatWriter.js";

/** Renders a format's text a page of rows at a time (csv.ts, json.ts). */
export interface PageFormatter {
  /** Writes these rows' text. */
  format(rows: readonly FormatRow[], write: (text: string) => void): void;
  /** Writes what the file still needs at its end. */
  end(write: (text: string) => void): void;
}

/**
 * A file of a text format: its page formatter writes straight into the blob's blocks, so at a
 * page boundary there is nothing to hand over, only the uploads to wait for.
 */
export class TextFileWriter implements FormatWriter {
  readonly path: string;
  readonly result: Promise<WrittenBlob>;
  private readonly blob: BlockWriter;

  constructor(
    readonly format: ExportFormat,
    private readonly formatter: PageFormatter,
    options: FormatWriterOptions,
  ) {
    this.path = options.path;
    this.blob = new BlockWriter(options.container.getBlockBlobClient(options.path), CONTENT_TYPES[format], {
      abortSignal: options.signal,
    });
    this.result = this.blob.result;
  }

  write(rows: readonly FormatRow[]): void {
    this.formatter.format(rows, this.blob.append);
  }

  flush(): Promise<void> {
    return this.blob.ready();
  }

  end(): Promise<void> {
    this.formatter.end(this.blob.append);
    this.blob.finish().catch(() => undefined); // its outcome is this.result
    return Promise.resolve();
  }

  abort(error: Error): void {
    this.blob.abort(error);
  }
}
