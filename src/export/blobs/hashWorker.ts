/**
 * The thread that hashes the blocks of large files (blockHashes.ts): each block's MD5 for its
 * upload, and the file's SHA-256 for the manifest. Blocks live in shared memory, so only their place
 * crosses threads, and the exporter goes on rendering while a block is hashed.
 *
 * Kept free of imports from this project: it also runs from its TypeScript source (tests).
 */
import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";
import type { HashReply, HashRequest } from "./hashMessages.js";

const files = new Map<number, Hash>();

function answer(request: Exclude<HashRequest, { kind: "drop" }>): HashReply {
  if (request.kind === "end") {
    const hash = files.get(request.file) ?? createHash("sha256");
    files.delete(request.file);
    return { id: request.id, sha256: hash.digest("hex") };
  }
  const bytes = new Uint8Array(request.buffer, request.offset, request.length);
  let hash = files.get(request.file);
  if (hash === undefined) files.set(request.file, (hash = createHash("sha256")));
  hash.update(bytes);
  return { id: request.id, md5: createHash("md5").update(bytes).digest() };
}

parentPort?.on("message", (request: HashRequest) => {
  if (request.kind === "drop") {
    files.delete(request.file);
    return;
  }
  let reply: HashReply;
  try {
    reply = answer(request);
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
