import { createHash } from "node:crypto";
import type { BlockBlobClient } from "@azure/storage-blob";

/**
 * A block blob in memory that keeps staged blocks and checks each one's MD5 as Blob Storage does
 * (for the block writer's tests and the benchmark's equivalence check).
 */
export function fakeBlockBlob(): {
  blob: BlockBlobClient;
  staged: Buffer[];
  /** Per staged block: whether it came from shared memory (hashed on the hashing thread). */
  shared: boolean[];
  committed: () => Buffer | undefined;
} {
  const byId = new Map<string, Buffer>();
  const staged: Buffer[] = [];
  const shared: boolean[] = [];
  let committed: Buffer | undefined;
  const blob = {
    stageBlock: (
      id: string,
      body: Buffer,
      length: number,
      options: { transactionalContentMD5?: Uint8Array },
    ) => {
      const copy = Buffer.from(body.subarray(0, length));
      const md5 = createHash("md5").update(copy).digest();
      if (!options.transactionalContentMD5 || !md5.equals(Buffer.from(options.transactionalContentMD5)))
        return Promise.reject(new Error("Md5Mismatch"));
      byId.set(id, copy);
      staged.push(copy);
      shared.push(body.buffer instanceof SharedArrayBuffer);
      return Promise.resolve({});
    },
    commitBlockList: (ids: string[]) => {
      committed = Buffer.concat(ids.map((id) => byId.get(id) ?? Buffer.alloc(0)));
      return Promise.resolve({});
    },
  } as unknown as BlockBlobClient;
  return { blob, staged, shared, committed: () => committed };
}
