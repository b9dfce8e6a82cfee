/** What the block writers and their hashing thread (hashWorker.ts) send each other: types only. */

export type HashRequest =
  /** A block of file `file`: its MD5 back, and its bytes into the file's SHA-256, in order. */
  | {
      readonly kind: "block";
      readonly id: number;
      readonly file: number;
      /** Shared memory (read in place, nobody writes it meanwhile) or a copy. */
      readonly buffer: SharedArrayBuffer | ArrayBuffer;
      readonly offset: number;
      readonly length: number;
    }
  /** The file's SHA-256 back; the file is forgotten. */
  | { readonly kind: "end"; readonly id: number; readonly file: number }
  /** The file is forgotten without a reply (its upload failed). */
  | { readonly kind: "drop"; readonly file: number };

export type HashReply =
  | { readonly id: number; readonly md5: Uint8Array }
  | { readonly id: number; readonly sha256: string }
  | { readonly id: number; readonly error: string };
