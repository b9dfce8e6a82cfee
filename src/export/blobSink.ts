import { createHash } from "node:crypto";
import { Transform, type TransformCallback, type Readable } from "node:stream";
import type { BlockBlobClient } from "@azure/storage-blob";

export interface WrittenBlob {
  readonly bytes: number;
  readonly sha256: string;
}

/** Counts bytes and hashes them on their way to the blob, so the manifest needs no second read. */
class Measure extends Transform {
  bytes = 0;
  private readonly hash = createHash("sha256");
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, chunk);
  }
  digest(): string {
    return this.hash.digest("hex");
  }
}

const BLOCK_SIZE = 4 * 1024 * 1024;

/**
 * Streams `source` into a block blob. Blocks are committed only when the stream ends
 * cleanly, so a failure part-way leaves no blob behind (uncommitted blocks expire).
 */
export async function uploadMeasured(
  source: Readable,
  blob: BlockBlobClient,
  contentType: string,
  abortSignal?: AbortSignal,
): Promise<WrittenBlob> {
  const measure = new Measure();
  source.on("error", (error) => measure.destroy(error));
  source.pipe(measure);
  await blob.uploadStream(measure, BLOCK_SIZE, 2, {
    blobHTTPHeaders: { blobContentType: contentType },
    ...(abortSignal ? { abortSignal } : {}),
  });
  return { bytes: measure.bytes, sha256: measure.digest() };
}
