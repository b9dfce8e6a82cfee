/**
 * Remembers which referral ids an export has already written, to catch rows that
 * `skip` paging repeats when the data changes between pages. Ids are kept as two
 * independent 32-bit hashes in typed arrays (8 bytes an id instead of a string in a
 * Set), so a million ids cost about 16 MB; a false "duplicate" needs both hashes to
 * collide (odds around 1 in 10^7 for a million ids).
 */
export class IdTracker {
  private a = new Uint32Array(1 << 12);
  private b = new Uint32Array(1 << 12);
  private used = 0;

  get size(): number {
    return this.used;
  }

  /** Adds an id; false when it was already there. */
  add(id: string): boolean {
    const [h1, h2] = hashes(id);
    if (this.used * 2 >= this.a.length) this.grow();
    return insert(this.a, this.b, h1, h2) ? (this.used++, true) : false;
  }

  private grow(): void {
    const oldA = this.a;
    const oldB = this.b;
    this.a = new Uint32Array(oldA.length * 2);
    this.b = new Uint32Array(oldB.length * 2);
    for (let i = 0; i < oldA.length; i++) {
      const x = oldA[i] ?? 0;
      const y = oldB[i] ?? 0;
      if (x !== 0 || y !== 0) insert(this.a, this.b, x, y);
    }
  }
}

function insert(a: Uint32Array, b: Uint32Array, h1: number, h2: number): boolean {
  const mask = a.length - 1;
  let slot = h1 & mask;
  for (let probe = 0; probe <= mask; probe++) {
    const x = a[slot] ?? 0;
    const y = b[slot] ?? 0;
    if (x === 0 && y === 0) {
      a[slot] = h1;
      b[slot] = h2;
      return true;
    }
    if (x === h1 && y === h2) return false;
    slot = (slot + 1) & mask;
  }
  throw new Error("id table full");
}

/** FNV-1a and a murmur-style mix over UTF-16 code units; (0,0) is reserved for empty slots. */
function hashes(id: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 >>>= 0;
  h2 = (h2 ^ id.length) >>> 0;
  return h1 === 0 && h2 === 0 ? [1, 0] : [h1, h2];
}
