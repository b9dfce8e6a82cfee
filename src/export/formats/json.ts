import { Transform, type TransformCallback } from "node:stream";
import type { FormatWriter, FormatWriterOptions } from "./formatWriter.js";
import { TextFileWriter } from "./textFileWriter.js";

/**
 * Streams objects out as one JSON array, one row per line, without ever holding the
 * whole document.
 */
export class JsonArrayStream extends Transform {
  private first = true;

  constructor() {
    super({ writableObjectMode: true, readableObjectMode: false, writableHighWaterMark: 1024 });
  }

  override _transform(row: unknown, _enc: BufferEncoding, done: TransformCallback): void {
    const text = JSON.stringify(row);
    this.push(this.first ? `[\n${text}` : `,\n${text}`);
    this.first = false;
    done();
  }

  override _flush(done: TransformCallback): void {
    this.push(this.first ? "[]\n" : "\n]\n");
    done();
  }
}

/** Renders the same JSON array as JsonArrayStream, a page of rows per call. */
export class JsonArrayPages {
  private first = true;

  /** Writes these rows (the opening bracket comes with the first row). */
  format(rows: readonly unknown[], write: (text: string) => void): void {
    for (const row of rows) {
      write(this.first ? "[\n" : ",\n");
      write(JSON.stringify(row));
      this.first = false;
    }
  }

  /** Writes the closing text: `[]` when no row came. */
  end(write: (text: string) => void): void {
    write(this.first ? "[]\n" : "\n]\n");
  }
}

/** A JSON file of a run, rendered a page at a time into its blob. */
export function openJsonFile(options: FormatWriterOptions): FormatWriter {
  return new TextFileWriter("json", new JsonArrayPages(), options);
}
