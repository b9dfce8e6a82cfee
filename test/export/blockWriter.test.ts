import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BlockWriter } from "../../src/export/blobs/blockWriter.js";
import { fakeBlockBlob } from "../support/fakeBlockBlob.js";

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
          const { blob, staged, committed } = fakeBlockBlob();
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
    const a = fakeBlockBlob();
    const b = fakeBlockBlob();
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
    const dropped = new BlockWriter(fakeBlockBlob().blob, "text/plain", { blockSize: 500 });
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

  it("hashes large files on the hashing thread: right MD5 per block and SHA-256 per file, several files at once", async () => {
    const MiB = 1024 * 1024;
    const files = [fakeBlockBlob(), fakeBlockBlob(), fakeBlockBlob()];
    const writers = files.map((f) => new BlockWriter(f.blob, "text/plain", { blockSize: MiB }));
    const parts: Buffer[][] = files.map(() => []);
    // One file given up half-way, with blocks already on the thread, does not disturb the others.
    const dropped = new BlockWriter(fakeBlockBlob().blob, "text/plain", { blockSize: MiB });
    for (let k = 0; k < 40; k++) {
      for (const [i, writer] of writers.entries()) {
        const part = randomBytes(90_000 + i * 7_001);
        writer.appendBytes(part);
        parts[i]?.push(part);
        await writer.ready();
      }
      if (k < 30) dropped.appendBytes(randomBytes(100_000));
      if (k === 30) dropped.abort(new Error("export aborted"));
    }
    await expect(dropped.result).rejects.toThrow("export aborted");
    const written = await Promise.all(writers.map((w) => w.finish()));
    for (const [i, file] of files.entries()) {
      const all = Buffer.concat(parts[i] ?? []);
      expect(file.committed()?.equals(all)).toBe(true);
      expect(written[i]).toEqual({
        bytes: all.length,
        sha256: createHash("sha256").update(all).digest("hex"),
      });
      expect(file.staged.length).toBeGreaterThan(3);
      // Full blocks went to the thread from shared memory (the fake blob checked each MD5).
      expect(file.shared.slice(0, -1).every(Boolean)).toBe(true);
    }
  });

  it("keeps a small file off the hashing thread", async () => {
    const { blob, shared, committed } = fakeBlockBlob();
    const writer = new BlockWriter(blob, "text/csv");
    writer.append("id,status\r\n1,Active\r\n");
    const written = await writer.finish();
    expect(committed()?.toString()).toBe("id,status\r\n1,Active\r\n");
    expect(written.sha256).toBe(createHash("sha256").update("id,status\r\n1,Active\r\n").digest("hex"));
    expect(shared).toEqual([false]);
  });

  it("commits an empty blob when nothing was appended", async () => {
    const { blob, staged, committed } = fakeBlockBlob();
    const written = await new BlockWriter(blob, "text/csv").finish();
    expect(staged).toEqual([]);
    expect(committed()).toEqual(Buffer.alloc(0));
    expect(written.bytes).toBe(0);
  });
});
