import {
  AGGREGATION_LEVELS,
  DATE_FIELDS,
  REFERRAL_FIELDS,
  isDateField,
  isReferralField,
  type AggregationLevel,
  type ReferralField,
} from "./fields.js";
import { z } from "zod";
import { COMPARISON_OPERATORS, type ComparisonOperator, type FilterNode } from "./filterAst.js";

export type { CompareNode, ComparisonOperator, ContainsNode, FilterNode, LogicalNode } from "./filterAst.js";
export { COMPARISON_OPERATORS } from "./filterAst.js";

export const MAX_FILTER_LENGTH = 2000;
export const MAX_FILTER_DEPTH = 32;
export const MAX_FILTER_COMPARISONS = 100;
export const MAX_GROUPBY_FIELDS = 16;

export type QueryField = "filter" | "groupby" | "aggregationLevel";

/** A query parameter the product refuses before any network call; the message starts with the field. */
export class QueryValidationError extends Error {
  override readonly name = "QueryValidationError";
  readonly reason = "invalid_query";
  readonly field: QueryField;
  /** The message without the leading `field: `. */
  readonly detail: string;

  constructor(field: QueryField, detail: string) {
    super(`${field}: ${detail}`);
    this.field = field;
    this.detail = detail;
  }
}

export function isQueryValidationError(error: unknown): error is QueryValidationError {
  return error instanceof QueryValidationError;
}

export interface QueryInput {
  readonly filter?: string | undefined;
  readonly groupby?: string | readonly string[] | undefined;
  readonly aggregationLevel?: string | undefined;
}

export interface ValidatedQuery {
  /** Canonical filter text (see formatFilter), the form sent upstream. */
  readonly filter?: string;
  readonly filterAst?: FilterNode;
  readonly groupby?: readonly ReferralField[];
  readonly aggregationLevel?: AggregationLevel;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

type Token =
  | { readonly type: "word"; readonly text: string; readonly pos: number }
  | { readonly type: "string"; readonly value: string; readonly raw: string; readonly pos: number }
  | { readonly type: "symbol"; readonly text: string; readonly pos: number }
  | { readonly type: "lparen" | "rparen" | "comma" | "end"; readonly pos: number };

// Letters beyond ASCII count as word characters so a misspelt field is reported as a field; so do
// invisible format characters (zero-width space, joiners), so a field or keyword that hides one is
// reported whole, with the character shown.
const WORD_CHAR = /[\p{L}\p{N}\p{Cf}_.:-]/u;
/** Characters a message shows as \uXXXX: controls, invisible format characters, line separators. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const FORMAT_CHARS = /\p{Cf}/gu;
const SYMBOL_STOP = /[\s\p{L}\p{N}_.:'(),-]/u;

function filterError(detail: string): QueryValidationError {
  return new QueryValidationError("filter", detail);
}

/** Shows a user-supplied piece of text in a message without letting it break the message. */
function show(text: string): string {
  const clipped = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  let out = "";
  for (const c of clipped) {
    const code = c.charCodeAt(0);
    out += UNPRINTABLE.test(c) ? `\\u${code.toString(16).padStart(4, "0")}` : c;
  }
  return out;
}

function codePointLabel(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** True for the bidirectional embedding, override and isolate controls (the "Trojan Source" characters). */
function isBidiControl(code: number): boolean {
  return (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

/**
 * Control characters (C0, DEL and C1) and unpaired surrogates cannot travel safely in a URL or a log
 * line; bidirectional controls make a filter read differently from what it does wherever it is shown
 * (run status, manifest, logs).
 */
function checkCharacters(field: QueryField, text: string): void {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) {
      throw new QueryValidationError(
        field,
        `control character ${codePointLabel(code)} at position ${i} is not allowed`,
      );
    }
    if (isBidiControl(code)) {
      throw new QueryValidationError(
        field,
        `bidirectional control character ${codePointLabel(code)} at position ${i} is not allowed (it makes the text display differently from what it says)`,
      );
    }
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      throw new QueryValidationError(field, `unpaired surrogate ${codePointLabel(code)} at position ${i}`);
    }
    if (code >= 0xdc00 && code <= 0xdfff) {
      throw new QueryValidationError(field, `unpaired surrogate ${codePointLabel(code)} at position ${i}`);
    }
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  // Each pass consumes at least one character, so the loop ends within text.length passes.
  while (i < text.length) {
    const ch = text.charAt(i);
    if (ch === " ") {
      i++;
    } else if (ch === "(") {
      tokens.push({ type: "lparen", pos: i++ });
    } else if (ch === ")") {
      tokens.push({ type: "rparen", pos: i++ });
    } else if (ch === ",") {
      tokens.push({ type: "comma", pos: i++ });
    } else if (ch === "'") {
      const start = i;
      let value = "";
      let closed = false;
      i++;
      while (i < text.length) {
        const c = text.charAt(i);
        if (c === "'") {
          if (text.charAt(i + 1) === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          closed = true;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) throw filterError(`unterminated string starting at position ${start}`);
      tokens.push({ type: "string", value, raw: text.slice(start, i), pos: start });
    } else if (WORD_CHAR.test(ch)) {
      const start = i;
      while (i < text.length && WORD_CHAR.test(text.charAt(i))) i++;
      tokens.push({ type: "word", text: text.slice(start, i), pos: start });
    } else {
      const start = i;
      while (i < text.length && !SYMBOL_STOP.test(text.charAt(i))) i++;
      tokens.push({ type: "symbol", text: text.slice(start, i), pos: start });
    }
  }
  tokens.push({ type: "end", pos: text.length });
  return tokens;
}

function describeToken(token: Token): string {
  switch (token.type) {
    case "word":
    case "symbol":
      return `'${show(token.text)}'`;
    case "string":
      return show(token.raw);
    case "lparen":
      return "'('";
    case "rparen":
      return "')'";
    case "comma":
      return "','";
    case "end":
      return "the end of the filter";
  }
}

// ---------------------------------------------------------------------------------------------
// Dates

const DATE_LITERAL = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}))?$/;

/** True for a real calendar date written `YYYY-MM-DD` or `YYYY-MM-DDTHH:mm:ss`. */
export function isDateLiteral(value: string): boolean {
  const m = DATE_LITERAL.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return false;
  if (m[4] === undefined) return true;
  return Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6]) <= 59;
}

/** `YYYY-MM-DD` becomes midnight, so date and date-time literals compare as one timeline. */
export function normalizeDateLiteral(value: string): string {
  return value.length === 10 ? `${value}T00:00:00` : value;
}

// ---------------------------------------------------------------------------------------------
// Parser

const OPERATOR_HINT = "use eq, ne, gt, ge, lt, le, or contains(field,'value')";
const operatorSet: ReadonlySet<string> = new Set(COMPARISON_OPERATORS);

function isOperator(text: string): text is ComparisonOperator {
  return operatorSet.has(text);
}

function unknownFieldDetail(name: string, pos: number | undefined): string {
  const where = pos === undefined ? "" : ` at position ${pos}`;
  const lower = name.toLowerCase();
  const sameButCase = REFERRAL_FIELDS.find((f) => f.toLowerCase() === lower);
  if (sameButCase !== undefined)
    return `unknown field '${show(name)}'${where} (did you mean '${sameButCase}'?)`;
  const visible = name.replace(FORMAT_CHARS, "");
  if (visible !== name && isReferralField(visible))
    return `unknown field '${show(name)}'${where} (it contains an invisible character; did you mean '${visible}'?)`;
  return `unknown field '${show(name)}'${where} (known fields: ${REFERRAL_FIELDS.join(", ")})`;
}

class FilterParser {
  private index = 0;
  private depth = 0;
  private comparisons = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  parse(): FilterNode {
    const node = this.parseOr();
    const next = this.peek();
    if (next.type === "rparen") throw filterError(`unexpected ')' at position ${next.pos} (no matching '(')`);
    if (next.type !== "end") {
      throw filterError(
        `unexpected ${describeToken(next)} at position ${next.pos} (expected 'and', 'or' or the end of the filter)`,
      );
    }
    return node;
  }

  private peek(offset = 0): Token {
    // The token list always ends with an "end" token, which peeking never moves past.
    const last = this.tokens[this.tokens.length - 1];
    return this.tokens[this.index + offset] ?? (last as Token);
  }

  private take(): Token {
    const token = this.peek();
    if (token.type !== "end") this.index++;
    return token;
  }

  private atKeyword(keyword: "and" | "or"): boolean {
    const token = this.peek();
    return token.type === "word" && token.text.toLowerCase() === keyword;
  }

  // Loops below consume a token per pass and the comparison limit caps them; recursion is capped by depth.
  private parseOr(): FilterNode {
    let node = this.parseAnd();
    while (this.atKeyword("or")) {
      this.take();
      node = { kind: "or", left: node, right: this.parseAnd() };
    }
    return node;
  }

  private parseAnd(): FilterNode {
    let node = this.parsePrimary();
    while (this.atKeyword("and")) {
      this.take();
      node = { kind: "and", left: node, right: this.parsePrimary() };
    }
    return node;
  }

  private parsePrimary(): FilterNode {
    const token = this.peek();
    if (token.type === "lparen") {
      this.take();
      this.depth++;
      if (this.depth > MAX_FILTER_DEPTH) {
        throw filterError(`nested deeper than ${MAX_FILTER_DEPTH} levels at position ${token.pos}`);
      }
      const node = this.parseOr();
      this.expect("rparen", "')'");
      this.depth--;
      return node;
    }
    if (token.type === "word") {
      if (token.text.toLowerCase() === "contains" && this.peek(1).type === "lparen")
        return this.parseContains();
      return this.parseComparison();
    }
    if (token.type === "end") {
      throw filterError(`unexpected end of the filter at position ${token.pos} (expected a comparison)`);
    }
    throw filterError(
      `unexpected ${describeToken(token)} at position ${token.pos} (expected a field name, 'contains(' or '(')`,
    );
  }

  private countComparison(): void {
    this.comparisons++;
    if (this.comparisons > MAX_FILTER_COMPARISONS) {
      throw filterError(`more than ${MAX_FILTER_COMPARISONS} comparisons`);
    }
  }

  private expect(type: "rparen" | "lparen" | "comma", label: string): Token {
    const token = this.peek();
    if (token.type !== type) {
      throw filterError(`expected ${label} at position ${token.pos}, found ${describeToken(token)}`);
    }
    return this.take();
  }

  private field(): ReferralField {
    const token = this.peek();
    if (token.type !== "word") {
      throw filterError(`expected a field name at position ${token.pos}, found ${describeToken(token)}`);
    }
    this.take();
    if (!isReferralField(token.text)) throw filterError(unknownFieldDetail(token.text, token.pos));
    return token.text;
  }

  private stringValue(): string {
    const token = this.peek();
    if (token.type !== "string") {
      throw filterError(
        `expected a single-quoted value at position ${token.pos}, found ${describeToken(token)} (write 'value')`,
      );
    }
    this.take();
    return token.value;
  }

  private parseContains(): FilterNode {
    this.take();
    this.expect("lparen", "'('");
    const field = this.field();
    if (isDateField(field)) {
      throw filterError(`contains() needs a text field, '${field}' is a date field (use gt, ge, lt, le)`);
    }
    this.expect("comma", "','");
    const value = this.stringValue();
    this.expect("rparen", "')'");
    this.countComparison();
    return { kind: "contains", field, value };
  }

  private parseComparison(): FilterNode {
    const field = this.field();
    const opToken = this.peek();
    if (opToken.type === "word" || opToken.type === "symbol") {
      const op = opToken.text.toLowerCase();
      if (!isOperator(op)) {
        throw filterError(
          `unknown operator '${show(opToken.text)}' at position ${opToken.pos} (${OPERATOR_HINT})`,
        );
      }
      this.take();
      const value = this.stringValue();
      const dateField = isDateField(field);
      if (!dateField && op !== "eq" && op !== "ne") {
        throw filterError(`operator '${op}' needs a date field, '${field}' is not one`);
      }
      if (dateField && !isDateLiteral(value)) {
        throw filterError(`'${show(value)}' is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:mm:ss)`);
      }
      this.countComparison();
      return { kind: "compare", field, op, value };
    }
    throw filterError(`expected an operator after '${field}' at position ${opToken.pos} (${OPERATOR_HINT})`);
  }
}

/** Parses a referrals filter, throwing QueryValidationError (field "filter") on anything not in the grammar. */
export function parseFilter(text: string): FilterNode {
  if (text.length > MAX_FILTER_LENGTH) {
    throw filterError(`longer than ${MAX_FILTER_LENGTH} characters (got ${text.length})`);
  }
  checkCharacters("filter", text);
  if (text.trim() === "") throw filterError("is empty");
  return new FilterParser(tokenize(text)).parse();
}

function quote(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Canonical text of a filter: lower-case keywords, single spaces, quotes doubled, and parentheses
 * only where the tree needs them, so parseFilter(formatFilter(n)) gives back n.
 */
export function formatFilter(node: FilterNode): string {
  switch (node.kind) {
    case "compare":
      return `${node.field} ${node.op} ${quote(node.value)}`;
    case "contains":
      return `contains(${node.field},${quote(node.value)})`;
    case "and": {
      const left = node.left.kind === "or" ? `(${formatFilter(node.left)})` : formatFilter(node.left);
      const right =
        node.right.kind === "or" || node.right.kind === "and"
          ? `(${formatFilter(node.right)})`
          : formatFilter(node.right);
      return `${left} and ${right}`;
    }
    case "or": {
      const right = node.right.kind === "or" ? `(${formatFilter(node.right)})` : formatFilter(node.right);
      return `${formatFilter(node.left)} or ${right}`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// groupby and aggregationLevel

function parseGroupby(input: string | readonly string[]): ReferralField[] {
  const fail = (detail: string): QueryValidationError => new QueryValidationError("groupby", detail);
  const names = typeof input === "string" ? input.split(",") : [...input];
  if (names.length === 0 || (names.length === 1 && (names[0] ?? "").trim() === "")) throw fail("is empty");
  if (names.length > MAX_GROUPBY_FIELDS) {
    throw fail(`more than ${MAX_GROUPBY_FIELDS} fields (got ${names.length})`);
  }
  const fields: ReferralField[] = [];
  names.forEach((raw, index) => {
    checkCharacters("groupby", raw);
    const name = raw.trim();
    if (name === "") throw fail(`empty field name at item ${index + 1}`);
    if (!isReferralField(name)) throw fail(unknownFieldDetail(name, undefined));
    if (fields.includes(name)) throw fail(`'${name}' listed twice`);
    fields.push(name);
  });
  return fields;
}

function parseAggregationLevel(input: string): AggregationLevel {
  const level = input.trim().toLowerCase();
  const known = AGGREGATION_LEVELS.find((l) => l === level);
  if (known === undefined) {
    throw new QueryValidationError(
      "aggregationLevel",
      `must be one of ${AGGREGATION_LEVELS.join(", ")} (got '${show(input)}')`,
    );
  }
  return known;
}

/** Validates a whole query once; everything after this point can trust the result. */
export function validateQuery(input: QueryInput): ValidatedQuery {
  let filter: string | undefined;
  let filterAst: FilterNode | undefined;
  if (input.filter !== undefined) {
    filterAst = parseFilter(input.filter);
    filter = formatFilter(filterAst);
    // The canonical text is what is stored, sent and checked again by the worker: it must fit too.
    if (filter.length > MAX_FILTER_LENGTH) {
      throw filterError(
        `longer than ${MAX_FILTER_LENGTH} characters once written in canonical form, with single spaces between its parts (got ${filter.length})`,
      );
    }
  }
  const groupby = input.groupby === undefined ? undefined : parseGroupby(input.groupby);
  let aggregationLevel: AggregationLevel | undefined;
  if (input.aggregationLevel !== undefined) {
    aggregationLevel = parseAggregationLevel(input.aggregationLevel);
    if (!groupby?.some((f) => isDateField(f))) {
      throw new QueryValidationError(
        "aggregationLevel",
        `needs a date field in groupby (date fields: ${DATE_FIELDS.join(", ")})`,
      );
    }
  }
  return {
    ...(filter !== undefined && filterAst !== undefined ? { filter, filterAst } : {}),
    ...(groupby !== undefined ? { groupby } : {}),
    ...(aggregationLevel !== undefined ? { aggregationLevel } : {}),
  };
}

/**
 * The stored form of a query, one shape wherever a query is written down: run records, job
 * messages, manifests and the change feed's comparison. Absent parts are null.
 */
export const querySpecSchema = z.object({
  filter: z.string().max(10_000).nullable(),
  groupby: z.array(z.string().max(100)).max(32).readonly().nullable(),
  aggregationLevel: z.string().max(20).nullable(),
});
export interface QuerySpec {
  readonly filter: string | null;
  readonly groupby: readonly string[] | null;
  readonly aggregationLevel: string | null;
}

/** The one conversion from a validated query to its stored form. */
export function toQuerySpec(query: ValidatedQuery): QuerySpec {
  return {
    filter: query.filter ?? null,
    groupby: query.groupby ? [...query.groupby] : null,
    aggregationLevel: query.aggregationLevel ?? null,
  };
}

/** Validates a stored query again (a job message is outside input like any other). */
export function validateQuerySpec(spec: QuerySpec): ValidatedQuery {
  return validateQuery({
    ...(spec.filter !== null ? { filter: spec.filter } : {}),
    ...(spec.groupby !== null ? { groupby: spec.groupby } : {}),
    ...(spec.aggregationLevel !== null ? { aggregationLevel: spec.aggregationLevel } : {}),
  });
}

/** Two stored queries ask for the same data (the canonical filter text makes this a plain comparison). */
export function sameQuery(a: QuerySpec, b: QuerySpec): boolean {
  return (
    a.filter === b.filter &&
    a.aggregationLevel === b.aggregationLevel &&
    (a.groupby ?? []).join(",") === (b.groupby ?? []).join(",")
  );
}

/** The query parameters to send upstream for a validated query (top/skip are the pager's business). */
export function toQueryParams(query: ValidatedQuery): Record<string, string> {
  const params: Record<string, string> = {};
  if (query.filter !== undefined) params.filter = query.filter;
  if (query.groupby !== undefined && query.groupby.length > 0) params.groupby = query.groupby.join(",");
  if (query.aggregationLevel !== undefined) params.aggregationLevel = query.aggregationLevel;
  return params;
}
