import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";
import type { HashReply, HashRequest } from "./hashMessages.js";

/** A file whose first block is smaller is hashed where it is: the trip to the thread would cost more. */
const THREAD_MIN_BYTES = 1024 * 1024;
/** A thread with no file open ends after this long; the next large file starts another. */
const IDLE_MS = 15_000;
/** The thread runs from its TypeScript source under the tests, from dist/ otherwise. */
const WORKER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./hashWorker.ts" : "./hashWorker.js",
  import.meta.url,
);

/** Block memory that the hashing thread reads in place: nothing is copied or moved to hash it. */
export function sharedBlock(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

interface Job {
  resolve(reply: HashReply): void;
  reject(error: Error): void;
}

/** One started thread. Files hashed there are lost with it, so they hold on to the session they began in. */
class Session {
  readonly pending = new Map<number, Job>();
  failure: Error | undefined;
  openFiles = 0;
  private nextId = 0;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    private readonly worker: Worker,
    private readonly onEnd: (session: Session) => void,
  ) {
    worker.unref();
    worker.on("message", (reply: HashReply) => {
      const job = this.pending.get(reply.id);
      if (job === undefined) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      job.resolve(reply);
    });
    worker.on("error", (error: Error) => {
      this.stop(new Error(`the hashing thread failed: ${error.message}`));
    });
    worker.on("exit", (code) => {
      this.stop(new Error(`the hashing thread stopped (exit code ${code})`));
    });
  }

  request(message: (id: number) => HashRequest): Promise<HashReply> {
    if (this.failure) return Promise.reject(this.failure);
    clearTimeout(this.idle);
    const id = this.nextId++;
    return new Promise<HashReply>((resolve, reject) => {
      // Referenced only while a block is being hashed: an idle thread never holds the process open.
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(message(id));
    });
  }

  open(): void {
    this.openFiles++;
    clearTimeout(this.idle);
  }

  close(file: number, dropped: boolean): void {
    if (dropped && !this.failure) this.worker.postMessage({ kind: "drop", file } satisfies HashRequest);
    if (--this.openFiles > 0) return;
    this.idle = setTimeout(() => {
      if (this.openFiles === 0 && this.pending.size === 0) this.stop(undefined);
    }, IDLE_MS).unref();
  }

  private stop(failure: Error | undefined): void {
    if (this.failure) return;
    this.failure = failure ?? new Error("the hashing thread was stopped");
    clearTimeout(this.idle);
    for (const job of this.pending.values()) job.reject(this.failure);
    this.pending.clear();
    this.onEnd(this);
    void this.worker.terminate();
  }
}

let current: Session | undefined;
let nextFile = 0;

function session(): Session {
  if (current === undefined || current.failure) {
    current = new Session(new Worker(WORKER_URL, { stdout: false, stderr: false }), (ended) => {
      if (current === ended) current = undefined;
    });
  }
  return current;
}

/**
 * The hashes of one blob written a block at a time: each block's MD5 (which Blob Storage checks on
 * arrival) and the whole file's SHA-256 (for the manifest). A file whose first block is a full
 * block in shared memory (sharedBlock) is hashed on a thread of its own, shared by all files of
 * the process: MD5 runs at about 600 MB/s, and on the exporter's thread the two hashes took an
 * eighth of a large export's CPU. Smaller files never start the thread. Each block's bytes must
 * not change until its MD5 has come back.
 */
export class BlockHashes {
  private inline: Hash | undefined;
  private thread: Session | undefined;
  private readonly file = nextFile++;
  private ended = false;

  /** The block's MD5; its bytes go into the file's SHA-256 after those of the blocks before it. */
  async block(bytes: Buffer): Promise<Buffer> {
    if (this.inline === undefined && this.thread === undefined) {
      if (bytes.length >= THREAD_MIN_BYTES && bytes.buffer instanceof SharedArrayBuffer) {
        this.thread = session();
        this.thread.open();
      } else this.inline = createHash("sha256");
    }
    if (this.inline) {
      this.inline.update(bytes);
      return createHash("md5").update(bytes).digest();
    }
    const shared = bytes.buffer instanceof SharedArrayBuffer;
    const reply = await this.threadSession().request((id) => ({
      kind: "block",
      id,
      file: this.file,
      buffer: shared ? bytes.buffer : new Uint8Array(bytes).buffer, // a copy crosses otherwise
      offset: shared ? bytes.byteOffset : 0,
      length: bytes.length,
    }));
    if ("md5" in reply) return Buffer.from(reply.md5.buffer, reply.md5.byteOffset, reply.md5.byteLength);
    throw new Error(`hashing a block failed: ${"error" in reply ? reply.error : "no MD5"}`);
  }

  /** The SHA-256 (hex) of every block so far, in order; no block may follow. */
  async digest(): Promise<string> {
    if (this.thread === undefined) {
      this.ended = true;
      return (this.inline ?? createHash("sha256")).digest("hex");
    }
    const thread = this.threadSession();
    try {
      const reply = await thread.request((id) => ({ kind: "end", id, file: this.file }));
      if ("sha256" in reply) return reply.sha256;
      throw new Error(`hashing a file failed: ${"error" in reply ? reply.error : "no SHA-256"}`);
    } finally {
      this.end(false);
    }
  }

  /** Forgets the file (its upload failed). */
  discard(): void {
    this.end(true);
  }

  private threadSession(): Session {
    const thread = this.thread as Session;
    if (this.ended) throw new Error("hashing a file that has ended");
    return thread;
  }

  private end(dropped: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.thread?.close(this.file, dropped);
  }
}
