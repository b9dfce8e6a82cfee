import { z } from "zod";
import type { DatasetDefinition, DatasetField } from "./datasets/index.js";
import { REFERRALS } from "./datasets/referrals.js";
import { DATE_FIELDS, REFERRAL_FIELDS, type ReferralRow } from "./fields.js";

/** One page as Partner Center returned it, after validation. */
export interface ReferralPage {
  readonly rows: ReferralRow[];
  readonly nextLink?: string;
  readonly totalCount?: number;
}

/** A page whose body is not an analytics envelope (or a bare array of rows). */
export class EnvelopeError extends Error {
  override readonly name = "EnvelopeError";
  readonly reason = "bad_envelope";
}

export function isEnvelopeError(error: unknown): error is EnvelopeError {
  return error instanceof EnvelopeError;
}

/**
 * Deepest nesting a row may have (the row object is level 1). Referrals are nearly flat; the limit
 * only keeps a hostile or broken row from overflowing the stack of whatever walks it later
 * (normalisation, the JSON writer), which JSON.parse itself does not do.
 */
export const MAX_ROW_DEPTH = 64;

const rowSchema = z.record(z.string(), z.unknown());
// Partner Center sends `2018-02-07T23:43:19`; tolerate fractions and an explicit zone.
const PARTNER_DATE =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/;

const DATE_SET: ReadonlySet<string> = new Set(DATE_FIELDS);
const TEXT_FIELDS = REFERRAL_FIELDS.filter((f) => f !== "id" && !DATE_SET.has(f));
/** Where the rows are: `Value` in the analytics family, `items` in the license family. */
const ROWS_KEYS = ["value", "items"] as const;

function pick(obj: Record<string, unknown>, names: readonly string[]): unknown {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  for (const [key, value] of Object.entries(obj)) if (wanted.has(key.toLowerCase())) return value;
  return undefined;
}

/** A page whose rows are parsed and checked when asked for, a slice at a time. */
export interface LazyReferralPage {
  readonly rowCount: number;
  readonly nextLink?: string;
  readonly totalCount?: number;
  /** Rows `from` to `to` (exclusive), checked like parseReferralPage checks them. */
  rows(from: number, to: number): ReferralRow[];
}

/**
 * Reads a page envelope case-insensitively (`Value`/`value` or `items`, `@nextLink`/`@odata.nextLink`,
 * `TotalCount`/`totalCount`) or a bare array, and validates each row of `dataset` (default
 * referrals). Grouped referrals pages hold group keys and a count instead of referrals, so only
 * their shape is checked; other datasets' rows are read by their field types, grouped or not.
 */
export function parseReferralPage(
  body: unknown,
  grouped: boolean,
  dataset?: DatasetDefinition,
): ReferralPage {
  const page = readReferralPage(body, grouped, dataset);
  return {
    rows: page.rows(0, page.rowCount),
    ...(page.nextLink !== undefined ? { nextLink: page.nextLink } : {}),
    ...(page.totalCount !== undefined ? { totalCount: page.totalCount } : {}),
  };
}

/**
 * Parses now every lazy array of a page body except its rows (`Value`), which are parsed as they
 * are used: bad bytes anywhere else fail the body while it can still be fetched again.
 */
export function settleBody(body: unknown): void {
  if (body === null || typeof body !== "object" || Array.isArray(body) || body instanceof LazyJsonArray)
    return;
  const obj = body as Record<string, unknown>;
  const rows = pick(obj, ROWS_KEYS);
  for (const value of Object.values(obj)) if (value instanceof LazyJsonArray && value !== rows) value.slice();
}

/**
 * The envelope checks of parseReferralPage now, the row checks when the rows are asked for. `Value`
 * may be a LazyJsonArray (from JsonBodyReader), whose rows are parsed only then.
 */
export function readReferralPage(
  body: unknown,
  grouped: boolean,
  dataset?: DatasetDefinition,
): LazyReferralPage {
  let rawRows: unknown;
  let nextLink: unknown;
  let totalCount: unknown;
  if (Array.isArray(body) || body instanceof LazyJsonArray) {
    rawRows = body;
  } else if (body !== null && typeof body === "object") {
    const obj = body as Record<string, unknown>;
    rawRows = pick(obj, ROWS_KEYS);
    nextLink = pick(obj, ["@nextLink", "@odata.nextLink", "nextLink"]);
    totalCount = pick(obj, ["TotalCount", "@odata.count"]);
    if (rawRows === undefined) throw new EnvelopeError("response has no 'Value' array");
  } else {
    throw new EnvelopeError("response is neither an object nor an array");
  }
  if (!Array.isArray(rawRows) && !(rawRows instanceof LazyJsonArray))
    throw new EnvelopeError("'Value' is not an array");
  if (nextLink !== undefined && nextLink !== null && (typeof nextLink !== "string" || nextLink === ""))
    throw new EnvelopeError("'@nextLink' is not a string");
  let total: number | undefined;
  if (totalCount !== undefined && totalCount !== null) {
    total = typeof totalCount === "string" ? Number(totalCount) : (totalCount as number);
    if (typeof total !== "number" || !Number.isInteger(total) || total < 0)
      throw new EnvelopeError("'TotalCount' is not a whole number");
  }

  const source = rawRows;
  // Referrals rows keep their own, fastest check; other datasets' rows are read by the registry.
  const plan = dataset === undefined || dataset === REFERRALS ? undefined : rowPlan(dataset);
  return {
    rowCount: source.length,
    ...(typeof nextLink === "string" ? { nextLink } : {}),
    ...(total !== undefined ? { totalCount: total } : {}),
    rows(from, to) {
      // Lazy rows are judged on their bytes, before they are parsed; parsed rows by a walk.
      const lazy = source instanceof LazyJsonArray;
      if (lazy) {
        const deep = source.firstTooDeep(from, to);
        if (deep !== undefined) throw tooDeep(deep);
      }
      const raw: unknown[] = source.slice(from, to);
      const rows = new Array<ReferralRow>(raw.length);
      for (let i = 0; i < raw.length; i++) {
        if (!lazy && nestsDeeperThan(raw[i], MAX_ROW_DEPTH)) throw tooDeep(from + i);
        const row = asRow(raw[i]);
        if (row === undefined) throw new EnvelopeError(`row ${from + i} is not an object`);
        if (plan !== undefined) readRow(row, plan, from + i);
        else if (!grouped) checkReferral(row, from + i);
        rows[i] = row;
      }
      return rows;
    },
  };
}

function tooDeep(index: number): EnvelopeError {
  return new EnvelopeError(`a row nests deeper than ${MAX_ROW_DEPTH} levels (row ${index})`);
}

/** Whether a parsed value nests deeper than `limit` levels; iterative, so any depth is safe to ask about. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  const pending: { value: object; depth: number }[] = [{ value, depth: 1 }];
  // Each object is visited once (parsed JSON has no cycles): the loop ends after every node.
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.depth > limit) return true;
    for (const child of Object.values(next.value) as unknown[])
      if (typeof child === "object" && child !== null) pending.push({ value: child, depth: next.depth + 1 });
  }
  return false;
}

/**
 * A row as `rowSchema` would return it, without its per-row copy: rows come straight from JSON.parse,
 * so any non-array object is a plain record. Only a row with an own `__proto__` key (which the schema
 * drops) still goes through the schema. Pages hold up to 10,000 rows, so this check runs hot.
 */
function asRow(value: unknown): ReferralRow | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  if (!Object.hasOwn(value, "__proto__")) return value as ReferralRow;
  const parsed = rowSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** A non-empty string or a safe integer (`z.union([z.string().min(1), z.number().int()])`). */
function isValidId(id: unknown): boolean {
  return (typeof id === "string" && id.length >= 1) || (typeof id === "number" && Number.isSafeInteger(id));
}

function checkReferral(row: Record<string, unknown>, index: number): void {
  if (!isValidId(row.id)) throw new EnvelopeError(`row ${index} has no valid 'id'`);
  for (const field of TEXT_FIELDS) {
    const value = row[field];
    if (typeof value !== "string" && value !== null && value !== undefined)
      throw new EnvelopeError(`row ${index} field '${field}' is not a string or null`);
  }
  for (const field of DATE_FIELDS) {
    const value = row[field];
    if (value === null || value === undefined) continue;
    if (typeof value !== "string" || !PARTNER_DATE.test(value))
      throw new EnvelopeError(
        `row ${index} field '${field}' is not a date: ${JSON.stringify(value).slice(0, 40)}`,
      );
  }
}

/** How rows of a dataset other than referrals are read: its aliases, sentinels and field types. */
interface RowPlan {
  /** [alias, documented name] pairs. */
  readonly aliases: readonly (readonly [string, string])[];
  readonly sentinels: ReadonlySet<string>;
  readonly fields: readonly DatasetField[];
}

const rowPlans = new WeakMap<DatasetDefinition, RowPlan>();

function rowPlan(dataset: DatasetDefinition): RowPlan {
  let plan = rowPlans.get(dataset);
  if (plan === undefined) {
    plan = {
      aliases: dataset.fields.flatMap((f) => (f.aliases ?? []).map((a) => [a, f.name] as const)),
      sentinels: new Set(dataset.nullSentinels ?? []),
      fields: dataset.fields,
    };
    rowPlans.set(dataset, plan);
  }
  return plan;
}

const INTEGER_TEXT = /^-?\d+$/;
const DECIMAL_TEXT = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function badField(index: number, name: string, what: string, value: unknown): EnvelopeError {
  return new EnvelopeError(
    `row ${index} field '${name}' is not ${what}: ${JSON.stringify(value).slice(0, 40)}`,
  );
}

/**
 * Reads a row of a dataset other than referrals in place, the tolerant way the family's pages call
 * for: a documented field that arrives under an alias takes its documented name (when that name is
 * absent), the dataset's "none" sentinels become null, numbers that arrive as text ("63") become
 * numbers, numbers in text fields (search's mpnId) become text, and "true"/"false" booleans. Anything
 * else that does not fit a field's type is refused. Extra fields pass as they are.
 */
function readRow(row: Record<string, unknown>, plan: RowPlan, index: number): void {
  for (const [alias, name] of plan.aliases) {
    if (row[name] === undefined && Object.hasOwn(row, alias)) {
      row[name] = row[alias];
      Reflect.deleteProperty(row, alias);
    }
  }
  for (const field of plan.fields) {
    const name = field.name;
    let value = row[name];
    if (value === undefined || value === null) continue;
    if (typeof value === "string" && plan.sentinels.has(value)) {
      row[name] = null;
      continue;
    }
    switch (field.type) {
      case "string":
        if (typeof value === "number" && Number.isFinite(value)) row[name] = String(value);
        else if (typeof value !== "string") throw badField(index, name, "a string or null", value);
        break;
      case "timestamp":
      case "date":
        if (typeof value !== "string" || !PARTNER_DATE.test(value))
          throw badField(index, name, "a date", value);
        break;
      case "integer":
        if (typeof value === "string" && INTEGER_TEXT.test(value.trim())) value = row[name] = Number(value);
        if (typeof value !== "number" || !Number.isSafeInteger(value))
          throw badField(index, name, "a whole number", value);
        break;
      case "decimal":
        if (typeof value === "string" && DECIMAL_TEXT.test(value.trim())) value = row[name] = Number(value);
        if (typeof value !== "number" || !Number.isFinite(value))
          throw badField(index, name, "a number", value);
        break;
      case "boolean":
        if (typeof value === "string" && /^(?:true|false)$/i.test(value))
          value = row[name] = value.toLowerCase() === "true";
        if (typeof value !== "boolean") throw badField(index, name, "true or false", value);
        break;
    }
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

function isSpace(c: number): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB;
}

/** Thrown for bytes that are not JSON, and for rows asked of a body whose buffer went back to its pool. */
function fail(): never {
  throw new SyntaxError("Unexpected token in JSON");
}

/**
 * The elements of a top-level JSON array, kept as bytes and parsed one by one when asked for.
 * Parsing an element of valid JSON bytes gives what JSON.parse of the whole document gives there.
 */
export class LazyJsonArray {
  constructor(
    private readonly body: JsonBodyReader,
    /** Start and end byte offsets of each element, in pairs. */
    private readonly bounds: Uint32Array,
    readonly length: number,
    /** Indexes of the elements nesting deeper than MAX_ROW_DEPTH, ascending. */
    private readonly deep: readonly number[] = [],
  ) {}

  /** The first element from `from` to `to` (exclusive) nesting deeper than MAX_ROW_DEPTH, if any. */
  firstTooDeep(from = 0, to = this.length): number | undefined {
    return this.deep.find((i) => i >= from && i < to);
  }

  /** Elements `from` to `to` (exclusive), like Array.prototype.slice. */
  slice(from = 0, to = this.length): unknown[] {
    const end = Math.min(to, this.length);
    const out: unknown[] = [];
    for (let i = Math.max(0, from); i < end; i++)
      out.push(this.body.parse(this.bounds[2 * i] ?? 0, this.bounds[2 * i + 1] ?? 0));
    return out;
  }
}

/** Where the reader is in the document's top level. */
type Place =
  | "start"
  | "keyOrEnd"
  | "key"
  | "colon"
  | "memberValue"
  | "member"
  | "memberEnd"
  | "elementOrEnd"
  | "element"
  | "elementEnd"
  | "done"
  | "whole";

/**
 * Reads a JSON document from its bytes as they arrive, into one buffer that can be reused for the
 * next body (`recycle`). The result equals `JSON.parse(Buffer.concat(chunks).toString("utf8"))`,
 * except that top-level arrays (the document itself, or members of the top-level object such as
 * `Value`) come back as LazyJsonArray: their elements are parsed only when asked for, each from its
 * own bytes. A 10,000-row page therefore never becomes one 4-8 MB string, and its rows exist only
 * while they are used, so they never pile up in the old generation of the heap.
 *
 * Whether the bytes are one complete JSON document is decided as they arrive, as far as the
 * structure goes: brackets, strings, and the keys, colons and commas between tokens (`end` throws
 * a SyntaxError otherwise). Scalars and keys at the top level are parsed at once; a malformed token
 * inside an element shows only when that element is parsed. Splitting is exact: every token starts
 * and ends at an ASCII byte, which is a character boundary in UTF-8.
 */
export class JsonBodyReader {
  private bytes: Buffer;
  private length = 0;
  private scanned = 0;
  private recycled = false;
  private place: Place = "start";
  private root: unknown;
  private object: Record<string, unknown> | undefined;
  private bounds = new Uint32Array(0);
  private count = 0;
  /** Elements of the array being read that nest deeper than MAX_ROW_DEPTH. */
  private deep: number[] = [];
  private key = "";
  private first = true;
  // The token being read: where it starts and, for objects and arrays, how deep the scan is.
  private tokenStart = 0;
  private bare = false;
  private depth = 0;
  /** The deepest the current token has gone, counted on its bytes (brackets outside strings). */
  private maxDepth = 0;
  private inString = false;
  private escaped = false;

  /** `buffer`: room to start with (say, from a pool); it grows as needed. */
  constructor(buffer: Buffer = Buffer.allocUnsafe(64 * 1024)) {
    this.bytes = buffer;
  }

  push(chunk: Buffer): void {
    if (this.length + chunk.length > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + chunk.length));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    chunk.copy(this.bytes, this.length);
    this.length += chunk.length;
    if (this.place !== "whole") this.scan();
  }

  /** The document's value; a SyntaxError if the bytes are not one complete JSON value. */
  end(): unknown {
    if (this.place === "whole") return JSON.parse(this.bytes.toString("utf8", 0, this.length));
    if (this.place !== "done") fail();
    return this.root;
  }

  /**
   * Hands the buffer back for another body. The value's lazy arrays must not be read after this:
   * they throw instead of reading someone else's bytes.
   */
  recycle(): Buffer {
    this.recycled = true;
    return this.bytes;
  }

  /** @internal Parses the bytes from `start` to `end` (for LazyJsonArray). */
  parse(start: number, end: number): unknown {
    if (this.recycled) fail();
    return JSON.parse(this.bytes.toString("utf8", start, end)) as unknown;
  }

  private scan(): void {
    const bytes = this.bytes;
    const n = this.length;
    let i = this.scanned;
    while (i < n) {
      if (this.place === "key" || this.place === "member" || this.place === "element") {
        i = this.readToken(i);
        continue;
      }
      const c = bytes[i] ?? 0;
      if (isSpace(c)) {
        i++;
        continue;
      }
      switch (this.place) {
        case "start":
          if (c === OPEN_BRACE) {
            this.root = this.object = {};
            this.place = "keyOrEnd";
          } else if (c === OPEN_BRACKET) {
            this.place = "elementOrEnd";
            this.count = 0;
          } else {
            this.place = "whole"; // a scalar document: parsed whole at the end
            this.scanned = n;
            return;
          }
          this.first = true;
          i++;
          break;
        case "keyOrEnd":
          if (c === CLOSE_BRACE && this.first) {
            this.place = "done";
            i++;
          } else if (c === QUOTE) {
            this.place = "key";
            i = this.startToken(i);
          } else fail();
          break;
        case "colon":
          if (c !== COLON) fail();
          this.place = "memberValue";
          i++;
          break;
        case "memberValue":
          if (c === OPEN_BRACKET) {
            this.count = 0;
            this.first = true;
            this.place = "elementOrEnd";
            i++;
          } else {
            this.place = "member";
            i = this.startToken(i);
          }
          break;
        case "memberEnd":
          if (c === COMMA) {
            this.first = false;
            this.place = "keyOrEnd";
          } else if (c === CLOSE_BRACE) this.place = "done";
          else fail();
          i++;
          break;
        case "elementOrEnd":
          if (c === CLOSE_BRACKET && this.first) {
            this.closeArray();
            i++;
          } else {
            this.place = "element";
            i = this.startToken(i);
          }
          break;
        case "elementEnd":
          if (c === COMMA) {
            this.first = false;
            this.place = "elementOrEnd";
          } else if (c === CLOSE_BRACKET) this.closeArray();
          else fail();
          i++;
          break;
        default:
          fail(); // "done": only white space may follow the value
      }
    }
    this.scanned = i;
  }

  private startToken(i: number): number {
    const c = this.bytes[i] ?? 0;
    this.tokenStart = i;
    this.inString = c === QUOTE;
    this.escaped = false;
    this.bare = !this.inString && c !== OPEN_BRACE && c !== OPEN_BRACKET;
    this.depth = this.bare || this.inString ? 0 : 1;
    this.maxDepth = this.depth;
    return this.readToken(this.bare ? i : i + 1);
  }

  /** Scans the current token from `from`; returns where scanning goes on (the end of the bytes if the token does). */
  private readToken(from: number): number {
    const end = this.bare ? this.bareEnd(from) : this.containerEnd(from);
    if (end < 0) return this.length;
    this.completeToken(this.tokenStart, end);
    return end;
  }

  /** A number or literal ends before a delimiter; JSON.parse judges what it holds. -1: not yet. */
  private bareEnd(from: number): number {
    const bytes = this.bytes;
    for (let i = from; i < this.length; i++) {
      const c = bytes[i];
      if (
        c === COMMA ||
        c === CLOSE_BRACKET ||
        c === CLOSE_BRACE ||
        c === SPACE ||
        c === LF ||
        c === CR ||
        c === TAB
      )
        return i;
    }
    return -1;
  }

  /**
   * The end of a string, object or array (after its closing byte), or -1 if it goes on past the
   * bytes so far. The hottest loop of a page: one pass over every byte of every row.
   */
  private containerEnd(from: number): number {
    const bytes = this.bytes;
    const n = this.length;
    let { depth, inString, maxDepth } = this;
    let i = from;
    if (this.escaped) i++; // the byte after a backslash that ended the last chunk
    while (i < n) {
      if (inString) {
        // Most bytes of a row are inside strings: run to the next quote or backslash.
        let c = bytes[i];
        while (c !== QUOTE && c !== BACKSLASH && ++i < n) c = bytes[i];
        if (i >= n) break;
        if (c === BACKSLASH) {
          i += 2; // skip the escaped byte
          continue;
        }
        inString = false;
        if (depth === 0) return i + 1;
        i++;
        continue;
      }
      const c = bytes[i];
      if (c === QUOTE) inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (++depth > maxDepth) maxDepth = depth;
      } else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) {
        this.maxDepth = maxDepth;
        return i + 1;
      }
      i++;
    }
    this.depth = depth;
    this.maxDepth = maxDepth;
    this.inString = inString;
    this.escaped = i > n; // a backslash was the last byte
    return -1;
  }

  private completeToken(start: number, end: number): void {
    if (this.place === "element") {
      if (start === end) fail(); // nothing between delimiters
      if (2 * this.count + 2 > this.bounds.length) {
        const grown = new Uint32Array(Math.max(1024, this.bounds.length * 2));
        grown.set(this.bounds);
        this.bounds = grown;
      }
      this.bounds[2 * this.count] = start;
      this.bounds[2 * this.count + 1] = end;
      if (this.maxDepth > MAX_ROW_DEPTH) this.deep.push(this.count);
      this.count++;
      this.place = "elementEnd";
      return;
    }
    const value = this.parse(start, end);
    if (this.place === "key") {
      this.key = value as string; // a complete string token parses to a string
      this.place = "colon";
    } else {
      this.setMember(value);
      this.place = "memberEnd";
    }
  }

  private closeArray(): void {
    const array = new LazyJsonArray(this, this.bounds.slice(0, 2 * this.count), this.count, this.deep);
    this.count = 0;
    this.deep = [];
    if (this.object === undefined) {
      this.root = array;
      this.place = "done";
      return;
    }
    this.setMember(array);
    this.place = "memberEnd";
  }

  /** As JSON.parse does it: the last of repeated keys wins, and `__proto__` is a plain own key. */
  private setMember(value: unknown): void {
    const object = this.object ?? {};
    // A repeated key drops the earlier value: parse it now, so bad bytes there still fail the body.
    const earlier = Object.hasOwn(object, this.key) ? object[this.key] : undefined;
    if (earlier instanceof LazyJsonArray) earlier.slice();
    if (this.key === "__proto__")
      Object.defineProperty(object, this.key, {
        value,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    else object[this.key] = value;
  }
}
