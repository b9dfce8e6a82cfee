import { Transform, type TransformCallback } from "node:stream";

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
