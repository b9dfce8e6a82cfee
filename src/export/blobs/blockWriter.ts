import { randomUUID } from "node:crypto";
import type { BlockBlobClient } from "@azure/storage-blob";
import { BlockHashes, sharedBlock } from "./blockHashes.js";

export interface WrittenBlob {
  readonly bytes: number;
  readonly sha256: string;
}

const BLOCK_SIZE = 4 * 1024 * 1024;
const FIRST_BLOCK_BYTES = 64 * 1024;

export interface BlockWriterOptions {
  readonly abortSignal?: AbortSignal;
  /** Bytes a block; the last one may be shorter. */
  readonly blockSize?: number;
  /** Blocks being staged at once. */
  readonly concurrency?: number;
}

/**
 * Writes one block blob from text and bytes appended in order: they are encoded straight into
 * block-sized buffers, which are reused once staged, so nothing is copied twice and no buffer is
 * left for the garbage collector per page. Each block is staged with its MD5, which Blob Storage
 * checks on arrival (a block damaged on the way fails instead of landing in the file); the file's
 * SHA-256 and size build up for the manifest (the hashes of large files on a thread of their own,
 * blockHashes.ts). Blocks are committed only by `finish`, so a failure
 * or `abort` part-way leaves no blob (staged blocks expire uncommitted).
 */
export class BlockWriter {
  /** Settles with the blob's size and SHA-256 once committed, or with the first failure. */
  readonly result: Promise<WrittenBlob>;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly hashes = new BlockHashes();
  private readonly idPrefix = randomUUID().replace(/-/g, "");
  private readonly ids: string[] = [];
  private readonly free: Buffer[] = [];
  private readonly staging = new Set<Promise<void>>();
  private block: Buffer;
  private used = 0;
  private bytes = 0;
  private failure: Error | undefined;
  private settle!: { resolve: (blob: WrittenBlob) => void; reject: (error: Error) => void };

  constructor(
    private readonly blob: BlockBlobClient,
    private readonly contentType: string,
    private readonly options: BlockWriterOptions = {},
  ) {
    this.blockSize = options.blockSize ?? BLOCK_SIZE;
    this.concurrency = options.concurrency ?? 2;
    // Small to start with: many files (change feeds, small profiles) never need a whole block.
    this.block = Buffer.allocUnsafe(Math.min(this.blockSize, FIRST_BLOCK_BYTES));
    this.result = new Promise<WrittenBlob>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.result.catch(() => undefined); // the owner awaits it; a failure before then is not unhandled
  }

  /** Appends text as UTF-8. */
  readonly append = (text: string): void => {
    // 3 bytes a UTF-16 unit is the most UTF-8 needs: if that fits, encode in place.
    this.room(text.length * 3);
    if (this.used + text.length * 3 <= this.block.length) {
      this.used += this.block.write(text, this.used, "utf8");
      if (this.used === this.blockSize) this.seal();
    } else this.appendBytes(Buffer.from(text, "utf8"));
  };

  /** Appends bytes. */
  appendBytes(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      this.room(bytes.length - from);
      const n = Math.min(bytes.length - from, this.block.length - this.used);
      this.block.set(bytes.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
      if (this.used === this.blockSize) this.seal();
    }
  }

  /** Resolves once no more than `concurrency` blocks are being staged; rejects if one failed. */
  async ready(): Promise<void> {
    while (this.staging.size > this.concurrency && this.failure === undefined)
      await Promise.race(this.staging);
    if (this.failure) throw this.failure;
  }

  /** Stages what is left and commits the block list. */
  async finish(): Promise<WrittenBlob> {
    try {
      if (this.used > 0) this.seal();
      while (this.staging.size > 0 && this.failure === undefined) await Promise.race(this.staging);
      if (this.failure) throw this.failure;
      await this.blob.commitBlockList(this.ids, {
        blobHTTPHeaders: { blobContentType: this.contentType },
        ...(this.options.abortSignal ? { abortSignal: this.options.abortSignal } : {}),
      });
      const written = { bytes: this.bytes, sha256: await this.hashes.digest() };
      this.settle.resolve(written);
      return written;
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      throw this.failure ?? error;
    }
  }

  /** Gives up: nothing more is staged and nothing is committed. */
  abort(error: Error): void {
    this.fail(error);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.hashes.discard();
    this.settle.reject(error);
  }

  /** Grows a first block that is smaller than a block towards `needed` more bytes. */
  private room(needed: number): void {
    if (this.block.length >= this.blockSize || this.used + needed <= this.block.length) return;
    const size = Math.min(this.blockSize, Math.max(this.block.length * 2, this.used + needed));
    // Full-size blocks in shared memory, so that they are hashed where they are (blockHashes.ts).
    const grown = size === this.blockSize ? sharedBlock(size) : Buffer.allocUnsafe(size);
    this.block.copy(grown, 0, 0, this.used);
    this.block = grown;
  }

  private seal(): void {
    const block = this.block;
    const body = block.subarray(0, this.used);
    this.block = this.free.pop() ?? sharedBlock(this.blockSize);
    this.used = 0;
    if (this.failure) return;
    this.bytes += body.length;
    // Ids of one blob must have one length: a fixed prefix and a zero-padded number.
    const id = Buffer.from(`${this.idPrefix}${String(this.ids.length).padStart(6, "0")}`).toString("base64");
    this.ids.push(id);
    const staged = this.hashes
      .block(body)
      .then(async (md5) =>
        this.blob.stageBlock(id, body, body.length, {
          transactionalContentMD5: md5,
          ...(this.options.abortSignal ? { abortSignal: this.options.abortSignal } : {}),
        }),
      )
      .then(
        () => {
          this.free.push(block);
        },
        (error: unknown) => {
          this.fail(error instanceof Error ? error : new Error(String(error)));
        },
      )
      .finally(() => {
        this.staging.delete(staged);
      });
    this.staging.add(staged);
  }
}
