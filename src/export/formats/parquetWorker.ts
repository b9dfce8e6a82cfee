/**
 * The Parquet encoder's thread. The encoder makes kilobytes of short-lived garbage per row; in a
 * worker with a small heap of its own (see parquet.ts) that garbage is collected within a
 * few row groups instead of piling up in the exporter's heap, and the encoding runs beside the
 * exporter's own work rather than in turn with it.
 *
 * Kept free of imports from this project: it also runs from its TypeScript source (tests), where
 * only packages resolve.
 */
import { parentPort, workerData } from "node:worker_threads";
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import type { EncoderData, EncoderReply, EncoderRequest, PackedColumn } from "./parquetMessages.js";

type Value = string | number | bigint | boolean | null;

/** Keeps what hyparquet writes until it is sent; the buffer is reused after each group. */
class ChunkWriter extends ByteWriter {
  chunks: ArrayBuffer[] = [];

  flush(): void {
    if (this.index === 0) return;
    this.chunks.push(this.buffer.slice(0, this.index));
    this.index = 0;
  }

  override finish(): void {
    this.flush();
  }
}

function unpack(column: PackedColumn, rows: number): Value[] {
  const values = new Array<Value>(rows);
  switch (column.kind) {
    case "string": {
      // Each value decoded on its own: slices of one long string would keep all of it alive in
      // the statistics the writer holds until the footer.
      const bytes = Buffer.from(column.bytes.buffer, column.bytes.byteOffset, column.bytes.byteLength);
      let at = 0;
      for (let i = 0; i < rows; i++) {
        const length = column.lengths[i] ?? -1;
        if (length < 0) values[i] = null;
        else {
          values[i] = bytes.toString("utf8", at, at + length);
          at += length;
        }
      }
      return values;
    }
    case "timestamp":
      for (let i = 0; i < rows; i++) {
        const ms = column.millis[i] ?? Number.NaN;
        values[i] = Number.isNaN(ms) ? null : ms;
      }
      return values;
    case "int64":
      for (let i = 0; i < rows; i++) values[i] = column.present[i] === 1 ? (column.values[i] ?? 0n) : null;
      return values;
    case "date":
    case "double": {
      const numbers = column.kind === "date" ? column.days : column.values;
      for (let i = 0; i < rows; i++) {
        const n = numbers[i] ?? Number.NaN;
        values[i] = Number.isNaN(n) ? null : n;
      }
      return values;
    }
    case "boolean":
      for (let i = 0; i < rows; i++) {
        const b = column.values[i] ?? 2;
        values[i] = b === 2 ? null : b === 1;
      }
      return values;
  }
}

const data = workerData as EncoderData;
const port = parentPort;
if (port === null) throw new Error("parquetWorker runs as a worker thread");
const writer = new ChunkWriter(1 << 20);
const parquet = new ParquetWriter({ writer, schema: data.schema, createdBy: data.createdBy });

function send(reply: EncoderReply): void {
  const chunks = reply.chunks;
  port?.postMessage(reply, chunks);
}

port.on("message", (request: EncoderRequest) => {
  if (request.type === "group") {
    // The writer's flush is synchronous, so write() encodes the group and flushes it before returning.
    void parquet.write({
      columnData: request.columns.map((column, j) => ({
        name: data.names[j] ?? "",
        data: unpack(column, request.rows),
      })),
      rowGroupSize: request.rows,
    });
  } else {
    void parquet.finish();
  }
  writer.flush();
  const chunks = writer.chunks;
  writer.chunks = [];
  send({ type: request.type, chunks });
});
