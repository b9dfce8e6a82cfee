import { createHash } from "node:crypto";
import type { BlockBlobClient } from "@azure/storage-blob";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BlockWriter } from "../../src/export/blobSink.js";

/** A block blob that keeps staged blocks and checks each one's MD5, as Blob Storage does. */
function fakeBlob(): { blob: BlockBlobClient; staged: Buffer[]; committed: () => Buffer | undefined } {
  const byId = new Map<string, Buffer>();
  const staged: Buffer[] = [];
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
      return Promise.resolve({});
    },
    commitBlockList: (ids: string[]) => {
      committed = Buffer.concat(ids.map((id) => byId.get(id) ?? Buffer.alloc(0)));
      return Promise.resolve({});
    },
  } as unknown as BlockBlobClient;
  return { blob, staged, committed: () => committed };
}

describe("BlockWriter", () => {
  it("commits exactly the text and bytes appended, in full blocks but the last, each with its MD5", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(fc.string({ unit: "grapheme", maxLength: 300 }), fc.uint8Array({ maxLength: 700 })),
          {
            maxLength: 80,
          },
        ),
        fc.integer({ min: 1, max: 200_000 }),
        async (parts, blockSize) => {
          const { blob, staged, committed } = fakeBlob();
          const writer = new BlockWriter(blob, "text/plain", { blockSize, concurrency: 2 });
          for (const part of parts) {
            if (typeof part === "string") writer.append(part);
            else writer.appendBytes(part);
            await writer.ready();
          }
          const written = await writer.finish();
          const all = Buffer.concat(parts.map((p) => Buffer.from(p)));
          expect(committed()?.equals(all)).toBe(true);
          expect(written).toEqual({
            bytes: all.length,
            sha256: createHash("sha256").update(all).digest("hex"),
          });
          // Every block but the last is full, however the first one grew.
          expect(staged.slice(0, -1).every((b) => b.length === blockSize)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("keeps files written at the same time apart: each gets its own bytes and SHA-256", async () => {
    const a = fakeBlob();
    const b = fakeBlob();
    const left = new BlockWriter(a.blob, "text/csv", { blockSize: 1_000 });
    const right = new BlockWriter(b.blob, "application/json", { blockSize: 700 });
    const leftParts: string[] = [];
    const rightParts: string[] = [];
    for (let i = 0; i < 300; i++) {
      const l = `left ${i} ${"x".repeat(i % 37)}\n`;
      const r = `{"right":${i},"pad":"${"é".repeat(i % 11)}"}\n`;
      left.append(l);
      right.append(r);
      leftParts.push(l);
      rightParts.push(r);
    }
    // One writer given up half-way does not disturb the others.
    const dropped = new BlockWriter(fakeBlob().blob, "text/plain", { blockSize: 500 });
    dropped.append("y".repeat(2_000));
    dropped.abort(new Error("export aborted"));
    await expect(dropped.result).rejects.toThrow("export aborted");

    const [l, r] = await Promise.all([left.finish(), right.finish()]);
    const sha = (parts: string[]): string => createHash("sha256").update(parts.join("")).digest("hex");
    expect(a.committed()?.toString("utf8")).toBe(leftParts.join(""));
    expect(b.committed()?.toString("utf8")).toBe(rightParts.join(""));
    expect(l.sha256).toBe(sha(leftParts));
    expect(r.sha256).toBe(sha(rightParts));
    expect(a.staged.length).toBeGreaterThan(5);
  });

  it("commits an empty blob when nothing was appended", async () => {
    const { blob, staged, committed } = fakeBlob();
    const written = await new BlockWriter(blob, "text/csv").finish();
    expect(staged).toEqual([]);
    expect(committed()).toEqual(Buffer.alloc(0));
    expect(written.bytes).toBe(0);
  });
});
