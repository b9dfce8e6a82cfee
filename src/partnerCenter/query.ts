import { z } from "zod";
import {
  DATASET_IDS,
  aggregationDateFields,
  isDateType,
  requireDataset,
  type DatasetCloud,
  type DatasetDefinition,
  type DatasetField,
  type DatasetId,
  type FilterOperator,
} from "./datasets/index.js";
import { REFERRALS } from "./datasets/referrals.js";
import type { AggregationLevel } from "./fields.js";
import {
  COMPARISON_OPERATORS,
  type ComparisonOperator,
  type FilterNode,
  type FilterValue,
} from "./filterAst.js";

export type {
  CompareNode,
  ComparisonOperator,
  ContainsNode,
  FilterNode,
  FilterValue,
  LogicalNode,
} from "./filterAst.js";
export { COMPARISON_OPERATORS } from "./filterAst.js";

export const MAX_FILTER_LENGTH = 2000;
export const MAX_FILTER_DEPTH = 32;
export const MAX_FILTER_COMPARISONS = 100;
export const MAX_GROUPBY_FIELDS = 16;

/** The request field a problem is about: a query parameter, or the dataset itself. */
export type QueryField = "filter" | "groupby" | "aggregationLevel" | "dataset";

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
  /**
   * The dataset the query was validated for; absent means referrals. validateQuery always sets
   * it (see queryOf for how referrals carries it).
   */
  readonly dataset?: DatasetDefinition;
  /** Canonical filter text (see formatFilter), the form sent upstream. */
  readonly filter?: string;
  readonly filterAst?: FilterNode;
  /** Groupable fields of the dataset, as documented. */
  readonly groupby?: readonly string[];
  readonly aggregationLevel?: AggregationLevel;
}

/** A dataset given as its definition or its id; absent means referrals. */
export type DatasetChoice = DatasetDefinition | DatasetId;

function datasetFrom(choice: DatasetChoice | undefined): DatasetDefinition {
  if (choice === undefined) return REFERRALS;
  return typeof choice === "string" ? requireDataset(choice) : choice;
}

/** The dataset of a validated query (absent = referrals). */
export function queryDataset(query: ValidatedQuery): DatasetDefinition {
  return query.dataset ?? REFERRALS;
}

/**
 * Referrals is the default dataset: a referrals query carries it on its prototype, so
 * `query.dataset` reads it like any other dataset, while the query still compares equal to the
 * plain object a referrals query has always been, and a copy that drops it still means referrals.
 * Other datasets are an own property, which copies keep.
 */
const REFERRALS_QUERY: ValidatedQuery = Object.freeze({ dataset: REFERRALS });

function queryOf(dataset: DatasetDefinition, parts: Omit<ValidatedQuery, "dataset">): ValidatedQuery {
  if (dataset === REFERRALS) return Object.assign(Object.create(REFERRALS_QUERY) as ValidatedQuery, parts);
  return { dataset, ...parts };
}

/** User input naming a dataset (a profile's `dataset`, a request's): refused with the known ids. */
export const datasetIdSchema = z.enum(DATASET_IDS, {
  error: (issue) =>
    typeof issue.input === "string"
      ? unknownDatasetMessage(issue.input)
      : `must be a dataset id (${DATASET_IDS.join(", ")})`,
});

function unknownDatasetMessage(id: string): string {
  try {
    requireDataset(id);
  } catch (error) {
    if (error instanceof Error) return error.message;
  }
  return `unknown dataset; known datasets: ${DATASET_IDS.join(", ")}`;
}

/**
 * Refuses a dataset that Partner Center does not offer in the configured cloud (the registry's
 * `clouds`, from each page's "Applies to"), before any request is made.
 */
export function checkDatasetCloud(dataset: DatasetChoice, cloud: DatasetCloud): void {
  const definition = datasetFrom(dataset);
  if (definition.clouds.includes(cloud)) return;
  throw new QueryValidationError(
    "dataset",
    `'${definition.id}' is not offered in the ${cloud} cloud (PARTNER_CENTER_CLOUD=${cloud}); Partner Center documents it for: ${definition.clouds.join(", ")}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Each dataset's fields, looked up by name

interface DatasetIndex {
  readonly dataset: DatasetDefinition;
  /** Referrals messages stay word for word what they always were. */
  readonly referrals: boolean;
  /** `" in dataset X"` in messages of every dataset but referrals. */
  readonly where: string;
  readonly byName: ReadonlyMap<string, DatasetField>;
  /** Lower-case names and aliases -> the documented name, for "did you mean". */
  readonly byLowerName: ReadonlyMap<string, string>;
  readonly byAlias: ReadonlyMap<string, string>;
  readonly known: string;
  readonly filterable: string;
  readonly groupable: string;
  readonly aggregationDates: ReadonlySet<string>;
  readonly aggregationDateList: string;
  /** Only the cast form needs the field's type when a filter is written. */
  readonly castDates: ReadonlySet<string>;
}

const indexes = new WeakMap<DatasetDefinition, DatasetIndex>();

function indexOf(dataset: DatasetDefinition): DatasetIndex {
  const cached = indexes.get(dataset);
  if (cached !== undefined) return cached;
  const byName = new Map(dataset.fields.map((f) => [f.name, f]));
  const byLowerName = new Map<string, string>();
  const byAlias = new Map<string, string>();
  for (const f of dataset.fields) byLowerName.set(f.name.toLowerCase(), f.name);
  for (const f of dataset.fields)
    for (const alias of f.aliases ?? []) {
      byAlias.set(alias, f.name);
      if (!byLowerName.has(alias.toLowerCase())) byLowerName.set(alias.toLowerCase(), f.name);
    }
  const dates = aggregationDateFields(dataset).map((f) => f.name);
  const index: DatasetIndex = {
    dataset,
    referrals: dataset === REFERRALS,
    where: dataset === REFERRALS ? "" : ` in dataset ${dataset.id}`,
    byName,
    byLowerName,
    byAlias,
    known: dataset.fields.map((f) => f.name).join(", "),
    filterable: dataset.fields
      .filter((f) => f.filter.length > 0)
      .map((f) => f.name)
      .join(", "),
    groupable: dataset.fields
      .filter((f) => f.groupBy)
      .map((f) => f.name)
      .join(", "),
    aggregationDates: new Set(dates),
    aggregationDateList: dates.join(", "),
    castDates: new Set(
      dataset.dateLiteral === "cast"
        ? dataset.fields.filter((f) => isDateType(f.type)).map((f) => f.name)
        : [],
    ),
  };
  indexes.set(dataset, index);
  return index;
}

/** The operators a field takes, as a message lists them. */
function allowedOperators(field: DatasetField): string {
  return field.filter.map((op: FilterOperator) => (op === "contains" ? "contains()" : op)).join(", ");
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
const ORDERING: ReadonlySet<string> = new Set(["gt", "ge", "lt", "le"]);
const INTEGER_LITERAL = /^-?\d+$/;
const DECIMAL_LITERAL = /^-?\d+(?:\.\d+)?$/;
const CAST_TYPE = "Edm.DateTimeOffset";
const DATE_HINT = `write 'YYYY-MM-DD', 'YYYY-MM-DDTHH:mm:ss' or cast('YYYY-MM-DD',${CAST_TYPE})`;

function isOperator(text: string): text is ComparisonOperator {
  return operatorSet.has(text);
}

function unknownFieldDetail(index: DatasetIndex, name: string, pos: number | undefined): string {
  const where = pos === undefined ? "" : ` at position ${pos}`;
  const head = `unknown field '${show(name)}'${where}${index.where}`;
  const documented = index.byAlias.get(name) ?? index.byLowerName.get(name.toLowerCase());
  if (documented !== undefined) return `${head} (did you mean '${documented}'?)`;
  const visible = name.replace(FORMAT_CHARS, "");
  if (visible !== name && index.byName.has(visible))
    return `${head} (it contains an invisible character; did you mean '${visible}'?)`;
  return `${head} (known fields: ${index.known})`;
}

class FilterParser {
  private index = 0;
  private depth = 0;
  private comparisons = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly fields: DatasetIndex,
  ) {}

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

  /** A field of the dataset that the filter may name. */
  private field(): DatasetField {
    const token = this.peek();
    if (token.type !== "word") {
      throw filterError(`expected a field name at position ${token.pos}, found ${describeToken(token)}`);
    }
    this.take();
    const field = this.fields.byName.get(token.text);
    if (field === undefined) throw filterError(unknownFieldDetail(this.fields, token.text, token.pos));
    if (field.filter.length === 0)
      throw filterError(
        `'${field.name}' cannot be filtered${this.fields.where} (filterable fields: ${this.fields.filterable})`,
      );
    return field;
  }

  private stringValue(hint = "write 'value'"): string {
    const token = this.peek();
    if (token.type !== "string") {
      throw filterError(
        `expected a single-quoted value at position ${token.pos}, found ${describeToken(token)} (${hint})`,
      );
    }
    this.take();
    return token.value;
  }

  private value(field: DatasetField): FilterValue {
    switch (field.type) {
      case "boolean":
        return this.booleanValue(field);
      case "integer":
      case "decimal":
        return this.numberValue(field);
      case "timestamp":
      case "date":
        return this.dateValue();
      case "string":
        return this.stringValue();
    }
  }

  /** `'YYYY-MM-DD…'` or `cast('YYYY-MM-DD…',Edm.DateTimeOffset)`, whichever form the dataset sends. */
  private dateValue(): string {
    // Referrals messages stay as they were; the others say which forms a date takes.
    const hint = this.fields.referrals ? undefined : DATE_HINT;
    const token = this.peek();
    if (token.type === "word" && token.text.toLowerCase() === "cast" && this.peek(1).type === "lparen") {
      this.take();
      this.take();
      const value = this.stringValue(hint);
      this.expect("comma", "','");
      const type = this.peek();
      if (type.type !== "word" || type.text.toLowerCase() !== CAST_TYPE.toLowerCase())
        throw filterError(
          `expected ${CAST_TYPE} at position ${type.pos}, found ${describeToken(type)} (write cast('YYYY-MM-DD',${CAST_TYPE}))`,
        );
      this.take();
      this.expect("rparen", "')'");
      return value;
    }
    return this.stringValue(hint);
  }

  private booleanValue(field: DatasetField): boolean {
    const token = this.peek();
    const text = token.type === "word" ? token.text.toLowerCase() : "";
    if (text === "true" || text === "false") {
      this.take();
      return text === "true";
    }
    if (token.type === "string")
      throw filterError(
        `'${field.name}' is a boolean field${this.fields.where}: write true or false without quotes (found ${show(token.raw)} at position ${token.pos})`,
      );
    throw filterError(
      `expected true or false at position ${token.pos}, found ${describeToken(token)} ('${field.name}' is a boolean field${this.fields.where})`,
    );
  }

  private numberValue(field: DatasetField): number {
    const token = this.peek();
    const integer = field.type === "integer";
    if (token.type === "word" && (integer ? INTEGER_LITERAL : DECIMAL_LITERAL).test(token.text)) {
      const value = Number(token.text);
      if (integer ? Number.isSafeInteger(value) : Number.isFinite(value)) {
        this.take();
        return value === 0 ? 0 : value; // no -0: it would not survive formatFilter
      }
    }
    const kind = integer ? "a whole number" : "a number";
    if (token.type === "string")
      throw filterError(
        `'${field.name}' is a number field${this.fields.where}: write ${kind} without quotes (found ${show(token.raw)} at position ${token.pos})`,
      );
    throw filterError(
      `expected ${kind} at position ${token.pos}, found ${describeToken(token)} ('${field.name}' is a number field${this.fields.where})`,
    );
  }

  private parseContains(): FilterNode {
    this.take();
    this.expect("lparen", "'('");
    const field = this.field();
    if (!field.filter.includes("contains")) {
      if (this.fields.referrals && isDateType(field.type))
        throw filterError(
          `contains() needs a text field, '${field.name}' is a date field (use gt, ge, lt, le)`,
        );
      throw filterError(
        `contains() is not allowed on '${field.name}'${this.fields.where} (allowed on it: ${allowedOperators(field)})`,
      );
    }
    this.expect("comma", "','");
    const value = this.stringValue();
    this.expect("rparen", "')'");
    this.countComparison();
    return { kind: "contains", field: field.name, value };
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
      const value = this.value(field);
      if (!field.filter.includes(op)) {
        if (this.fields.referrals && ORDERING.has(op) && !isDateType(field.type))
          throw filterError(`operator '${op}' needs a date field, '${field.name}' is not one`);
        throw filterError(
          `operator '${op}' is not allowed on '${field.name}'${this.fields.where} (allowed on it: ${allowedOperators(field)})`,
        );
      }
      if (typeof value === "string" && isDateType(field.type) && !isDateLiteral(value)) {
        throw filterError(`'${show(value)}' is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:mm:ss)`);
      }
      this.countComparison();
      return { kind: "compare", field: field.name, op, value };
    }
    throw filterError(
      `expected an operator after '${field.name}' at position ${opToken.pos} (${OPERATOR_HINT})`,
    );
  }
}

/**
 * Parses a filter of `dataset` (default referrals), throwing QueryValidationError (field "filter")
 * on anything not in the grammar or not allowed on the dataset's fields.
 */
export function parseFilter(text: string, dataset?: DatasetChoice): FilterNode {
  if (text.length > MAX_FILTER_LENGTH) {
    throw filterError(`longer than ${MAX_FILTER_LENGTH} characters (got ${text.length})`);
  }
  checkCharacters("filter", text);
  if (text.trim() === "") throw filterError("is empty");
  return new FilterParser(tokenize(text), indexOf(datasetFrom(dataset))).parse();
}

function quote(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Decimal digits without an exponent, which the parser reads back to the same number. */
function formatNumber(value: number): string {
  const text = String(value);
  if (!/e/i.test(text)) return text;
  return value.toLocaleString("en-US", { useGrouping: false, maximumFractionDigits: 100 });
}

function formatValue(field: string, value: FilterValue, index: DatasetIndex): string {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return formatNumber(value);
  if (index.castDates.has(field)) return `cast(${quote(value)},${CAST_TYPE})`;
  return quote(value);
}

/**
 * Canonical text of a filter of `dataset` (default referrals): lower-case keywords, single spaces,
 * quotes doubled, booleans and numbers unquoted, dates in the dataset's literal form, and
 * parentheses only where the tree needs them, so parseFilter(formatFilter(n, d), d) gives back n.
 */
export function formatFilter(node: FilterNode, dataset?: DatasetChoice): string {
  return formatNode(node, indexOf(datasetFrom(dataset)));
}

function formatNode(node: FilterNode, index: DatasetIndex): string {
  switch (node.kind) {
    case "compare":
      return `${node.field} ${node.op} ${formatValue(node.field, node.value, index)}`;
    case "contains":
      return `contains(${node.field},${quote(node.value)})`;
    case "and": {
      const left =
        node.left.kind === "or" ? `(${formatNode(node.left, index)})` : formatNode(node.left, index);
      const right =
        node.right.kind === "or" || node.right.kind === "and"
          ? `(${formatNode(node.right, index)})`
          : formatNode(node.right, index);
      return `${left} and ${right}`;
    }
    case "or": {
      const right =
        node.right.kind === "or" ? `(${formatNode(node.right, index)})` : formatNode(node.right, index);
      return `${formatNode(node.left, index)} or ${right}`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// groupby and aggregationLevel

function parseGroupby(input: string | readonly string[], index: DatasetIndex): string[] {
  const fail = (detail: string): QueryValidationError => new QueryValidationError("groupby", detail);
  const names = typeof input === "string" ? input.split(",") : [...input];
  if (names.length === 0 || (names.length === 1 && (names[0] ?? "").trim() === "")) throw fail("is empty");
  if (names.length > MAX_GROUPBY_FIELDS) {
    throw fail(`more than ${MAX_GROUPBY_FIELDS} fields (got ${names.length})`);
  }
  const fields: string[] = [];
  names.forEach((raw, position) => {
    checkCharacters("groupby", raw);
    const name = raw.trim();
    if (name === "") throw fail(`empty field name at item ${position + 1}`);
    const field = index.byName.get(name);
    if (field === undefined) throw fail(unknownFieldDetail(index, name, undefined));
    if (!field.groupBy)
      throw fail(`'${name}' cannot be grouped by${index.where} (groupable fields: ${index.groupable})`);
    if (fields.includes(name)) throw fail(`'${name}' listed twice`);
    fields.push(name);
  });
  return fields;
}

function parseAggregationLevel(input: string, dataset: DatasetDefinition): AggregationLevel {
  const level = input.trim().toLowerCase();
  const known = dataset.aggregationLevels.find((l) => l === level);
  if (known === undefined) {
    throw new QueryValidationError(
      "aggregationLevel",
      `must be one of ${dataset.aggregationLevels.join(", ")} (got '${show(input)}')`,
    );
  }
  return known;
}

/**
 * Validates a whole query once, for `dataset` (default referrals); everything after this point can
 * trust the result, which names its dataset.
 */
export function validateQuery(input: QueryInput, dataset?: DatasetChoice): ValidatedQuery {
  const definition = datasetFrom(dataset);
  const index = indexOf(definition);
  let filter: string | undefined;
  let filterAst: FilterNode | undefined;
  if (input.filter !== undefined) {
    filterAst = parseFilter(input.filter, definition);
    filter = formatFilter(filterAst, definition);
    // The canonical text is what is stored, sent and checked again by the worker: it must fit too.
    if (filter.length > MAX_FILTER_LENGTH) {
      throw filterError(
        `longer than ${MAX_FILTER_LENGTH} characters once written in canonical form, with single spaces between its parts (got ${filter.length})`,
      );
    }
  }
  const groupby = input.groupby === undefined ? undefined : parseGroupby(input.groupby, index);
  let aggregationLevel: AggregationLevel | undefined;
  if (input.aggregationLevel !== undefined) {
    if (definition.aggregationLevels.length === 0) {
      throw new QueryValidationError(
        "aggregationLevel",
        `is not offered by dataset ${definition.id} (it has no date field to group by)`,
      );
    }
    aggregationLevel = parseAggregationLevel(input.aggregationLevel, definition);
    if (!groupby?.some((f) => index.aggregationDates.has(f))) {
      throw new QueryValidationError(
        "aggregationLevel",
        index.referrals
          ? `needs a date field in groupby (date fields: ${index.aggregationDateList})`
          : `needs a date field in groupby (date fields of dataset ${definition.id}: ${index.aggregationDateList})`,
      );
    }
  }
  return queryOf(definition, {
    ...(filter !== undefined && filterAst !== undefined ? { filter, filterAst } : {}),
    ...(groupby !== undefined ? { groupby } : {}),
    ...(aggregationLevel !== undefined ? { aggregationLevel } : {}),
  });
}

/**
 * The stored form of a query, one shape wherever a query is written down: run records, job
 * messages, manifests and the change feed's comparison. Absent parts are null. The dataset is
 * stored beside it (absent = referrals).
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

/** Validates a stored query again, for its dataset (a job message is outside input like any other). */
export function validateQuerySpec(spec: QuerySpec, dataset?: DatasetChoice): ValidatedQuery {
  return validateQuery(
    {
      ...(spec.filter !== null ? { filter: spec.filter } : {}),
      ...(spec.groupby !== null ? { groupby: spec.groupby } : {}),
      ...(spec.aggregationLevel !== null ? { aggregationLevel: spec.aggregationLevel } : {}),
    },
    dataset,
  );
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
