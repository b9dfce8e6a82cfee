import {
  aggregationDateFields,
  datasetField,
  isDateType,
  type DatasetDefinition,
  type DatasetField,
  type DatasetId,
} from "../partnerCenter/datasets/index.js";
import type { AggregationLevel } from "../partnerCenter/fields.js";
import type { ComparisonOperator } from "../partnerCenter/filterAst.js";
import type { AnyFilterNode } from "./filterEval.js";

/**
 * The query grammar as the simulated service reads it for every dataset but referrals (which keeps
 * the product's own validator, as it always had): per-field operators from the registry, unquoted
 * booleans and numbers, dates quoted or written cast('…',Edm.DateTimeOffset). It is the service's
 * side of the contract and deliberately independent of the product's parser, so a filter the
 * product writes and the service would refuse shows up as a 400 in tests.
 */

export interface DatasetQueryInput {
  readonly filter?: string | undefined;
  readonly groupby?: string | readonly string[] | undefined;
  readonly aggregationLevel?: string | undefined;
}

export interface DatasetQuery {
  /** Canonical filter text (the form next links carry). */
  readonly filter?: string;
  readonly filterAst?: AnyFilterNode;
  readonly groupby?: readonly string[];
  readonly aggregationLevel?: AggregationLevel;
}

export type DatasetQueryParameter = "filter" | "groupby" | "aggregationLevel";

/** A query the service refuses (400); the message starts with the parameter, as referrals' do. */
export class DatasetQueryError extends Error {
  override readonly name = "DatasetQueryError";
  constructor(
    readonly parameter: DatasetQueryParameter,
    detail: string,
  ) {
    super(`${parameter}: ${detail}`);
  }
}

const MAX_FILTER_LENGTH = 4000;
const MAX_DEPTH = 32;
const MAX_COMPARISONS = 200;
const OPERATORS: readonly ComparisonOperator[] = ["eq", "ne", "gt", "ge", "lt", "le"];
const LEVELS: readonly AggregationLevel[] = ["day", "week", "month"];

/** Spellings the documentation uses for a field in its parameter lists (indirect resellers' `Name`). */
const DOCUMENTED_SPELLINGS: Partial<Record<DatasetId, Readonly<Record<string, string>>>> = {
  indirectResellers: { Name: "name" },
};

function resolveField(dataset: DatasetDefinition, name: string): DatasetField | undefined {
  return datasetField(dataset, DOCUMENTED_SPELLINGS[dataset.id]?.[name] ?? name);
}

function show(text: string): string {
  const clipped = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return clipped.replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function listNames(names: readonly string[]): string {
  return names.map((n) => `'${show(n)}'`).join(", ");
}

// ---------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { readonly type: "word"; readonly text: string; readonly pos: number }
  | { readonly type: "string"; readonly value: string; readonly pos: number }
  | { readonly type: "number"; readonly text: string; readonly pos: number }
  | { readonly type: "(" | ")" | "," | "end"; readonly pos: number };

const WORD_START = /[\p{L}_]/u;
const WORD_CHAR = /[\p{L}\p{N}_.]/u;
const NUMBER = /^-?\d+(?:\.\d+)?/;

function filterError(detail: string): DatasetQueryError {
  return new DatasetQueryError("filter", detail);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  // Each pass consumes at least one character.
  while (i < text.length) {
    const ch = text.charAt(i);
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === "(" || ch === ")" || ch === ",") {
      tokens.push({ type: ch, pos: i++ });
    } else if (ch === "'") {
      const start = i;
      let value = "";
      let closed = false;
      for (i++; i < text.length; i++) {
        const c = text.charAt(i);
        if (c !== "'") {
          value += c;
        } else if (text.charAt(i + 1) === "'") {
          value += "'";
          i++;
        } else {
          closed = true;
          i++;
          break;
        }
      }
      if (!closed) throw filterError(`unterminated string starting at position ${start}`);
      tokens.push({ type: "string", value, pos: start });
    } else if (NUMBER.test(text.slice(i, i + 40))) {
      const match = NUMBER.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ type: "number", text: match[0], pos: i });
      i += match[0].length;
    } else if (WORD_START.test(ch)) {
      const start = i;
      while (i < text.length && WORD_CHAR.test(text.charAt(i))) i++;
      tokens.push({ type: "word", text: text.slice(start, i), pos: start });
    } else {
      throw filterError(`unexpected character '${show(ch)}' at position ${i}`);
    }
  }
  tokens.push({ type: "end", pos: text.length });
  return tokens;
}

function describe(token: Token): string {
  switch (token.type) {
    case "word":
    case "number":
      return `'${show(token.text)}'`;
    case "string":
      return `'${show(token.value)}'`;
    case "end":
      return "the end of the filter";
    default:
      return `'${token.type}'`;
  }
}

// ---------------------------------------------------------------------------------------------
// Dates

const DATE_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * A date literal as `YYYY-MM-DD` or `YYYY-MM-DDTHH:mm:ss` (UTC), or undefined when it is not a
 * real date. Offsets are applied; fractions of a second are dropped.
 */
export function normalizeDateText(text: string): string | undefined {
  const m = DATE_TEXT.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate())
    return undefined;
  if (m[4] === undefined) return `${m[1]}-${m[2]}-${m[3]}`;
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6] ?? "0")];
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const zone = m[8] === undefined || m[8] === "Z" ? "Z" : m[8];
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${String(second).padStart(2, "0")}${zone}`);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().slice(0, 19);
}

// ---------------------------------------------------------------------------------------------
// Parser

type Literal =
  | { readonly kind: "string"; readonly value: string; readonly pos: number }
  | { readonly kind: "cast"; readonly value: string; readonly pos: number }
  | { readonly kind: "boolean"; readonly value: boolean; readonly pos: number }
  | { readonly kind: "number"; readonly value: number; readonly pos: number };

class Parser {
  private index = 0;
  private depth = 0;
  private comparisons = 0;
  /** Unknown field names in order of appearance, reported together once the syntax is read. */
  readonly unknown: string[] = [];

  constructor(
    private readonly tokens: readonly Token[],
    private readonly dataset: DatasetDefinition,
  ) {}

  parse(): AnyFilterNode {
    const node = this.parseOr();
    const next = this.peek();
    if (next.type !== "end") {
      throw filterError(
        `unexpected ${describe(next)} at position ${next.pos} (expected 'and', 'or' or the end)`,
      );
    }
    return node;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.index + offset, this.tokens.length - 1)] as Token;
  }

  private take(): Token {
    const token = this.peek();
    if (token.type !== "end") this.index++;
    return token;
  }

  private isWord(text: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.type === "word" && token.text.toLowerCase() === text;
  }

  private expect(type: "(" | ")" | ","): void {
    const token = this.take();
    if (token.type !== type) {
      throw filterError(`expected '${type}' at position ${token.pos}, found ${describe(token)}`);
    }
  }

  private count(): void {
    if (++this.comparisons > MAX_COMPARISONS) throw filterError(`more than ${MAX_COMPARISONS} comparisons`);
  }

  private parseOr(): AnyFilterNode {
    let node = this.parseAnd();
    while (this.isWord("or")) {
      this.take();
      node = { kind: "or", left: node, right: this.parseAnd() };
    }
    return node;
  }

  private parseAnd(): AnyFilterNode {
    let node = this.parsePrimary();
    while (this.isWord("and")) {
      this.take();
      node = { kind: "and", left: node, right: this.parsePrimary() };
    }
    return node;
  }

  private parsePrimary(): AnyFilterNode {
    const token = this.peek();
    if (token.type === "(") {
      this.take();
      if (++this.depth > MAX_DEPTH) throw filterError(`nested deeper than ${MAX_DEPTH} levels`);
      const node = this.parseOr();
      this.expect(")");
      this.depth--;
      return node;
    }
    if (this.isWord("contains") && this.peek(1).type === "(") return this.parseContains();
    if (token.type === "word") return this.parseComparison();
    throw filterError(`expected a field name at position ${token.pos}, found ${describe(token)}`);
  }

  /** The field a name stands for; unknown names are collected and stand for themselves. */
  private field(): { name: string; known: DatasetField | undefined } {
    const token = this.take();
    if (token.type !== "word") {
      throw filterError(`expected a field name at position ${token.pos}, found ${describe(token)}`);
    }
    const known = resolveField(this.dataset, token.text);
    if (known === undefined && !this.unknown.includes(token.text)) this.unknown.push(token.text);
    return { name: known?.name ?? token.text, known };
  }

  private parseContains(): AnyFilterNode {
    this.take();
    this.expect("(");
    const { name, known } = this.field();
    this.expect(",");
    const value = this.take();
    if (value.type !== "string") {
      throw filterError(`contains() takes a quoted text at position ${value.pos}, found ${describe(value)}`);
    }
    this.expect(")");
    if (known !== undefined && !known.filter.includes("contains")) {
      throw filterError(`contains() is not supported on '${name}'${this.supported(known)}`);
    }
    this.count();
    return { kind: "contains", field: name, value: value.value };
  }

  private supported(field: DatasetField): string {
    return field.filter.length === 0
      ? " (it cannot be filtered)"
      : ` (supported: ${field.filter.join(", ")})`;
  }

  private literal(): Literal {
    const token = this.take();
    if (token.type === "string") return { kind: "string", value: token.value, pos: token.pos };
    if (token.type === "number") return { kind: "number", value: Number(token.text), pos: token.pos };
    if (token.type === "word") {
      const lower = token.text.toLowerCase();
      if (lower === "true" || lower === "false")
        return { kind: "boolean", value: lower === "true", pos: token.pos };
      if (lower === "cast" && this.peek().type === "(") {
        this.expect("(");
        const inner = this.take();
        if (inner.type !== "string") {
          throw filterError(`cast() takes a quoted date at position ${inner.pos}, found ${describe(inner)}`);
        }
        this.expect(",");
        const type = this.take();
        if (type.type !== "word" || type.text.toLowerCase() !== "edm.datetimeoffset") {
          throw filterError(
            `cast() supports Edm.DateTimeOffset only, found ${describe(type)} at position ${type.pos}`,
          );
        }
        this.expect(")");
        return { kind: "cast", value: inner.value, pos: token.pos };
      }
    }
    throw filterError(`expected a value at position ${token.pos}, found ${describe(token)}`);
  }

  private parseComparison(): AnyFilterNode {
    const { name, known } = this.field();
    const opToken = this.take();
    const op = opToken.type === "word" ? OPERATORS.find((o) => o === opToken.text.toLowerCase()) : undefined;
    if (op === undefined) {
      throw filterError(
        `expected an operator (eq, ne, gt, ge, lt, le) after '${show(name)}' at position ${opToken.pos}, found ${describe(opToken)}`,
      );
    }
    const literal = this.literal();
    this.count();
    if (known === undefined) {
      // Reported with every other unknown field once the whole filter is read.
      return { kind: "compare", field: name, op, value: literal.value };
    }
    if (!known.filter.includes(op))
      throw filterError(`operator '${op}' is not supported on '${name}'${this.supported(known)}`);
    return { kind: "compare", field: name, op, value: this.typed(known, literal) };
  }

  /** The literal as the field's type wants it. */
  private typed(field: DatasetField, literal: Literal): string | boolean | number {
    const where = `at position ${literal.pos}`;
    switch (field.type) {
      case "boolean":
        if (literal.kind !== "boolean") {
          throw filterError(`'${field.name}' is a boolean: write true or false without quotes (${where})`);
        }
        return literal.value;
      case "integer":
      case "decimal":
        if (literal.kind !== "number" || (field.type === "integer" && !Number.isInteger(literal.value))) {
          throw filterError(`'${field.name}' is a number: write it without quotes (${where})`);
        }
        return literal.value;
      case "date":
      case "timestamp": {
        if (literal.kind !== "string" && literal.kind !== "cast") {
          throw filterError(
            `'${field.name}' is a date: write 'YYYY-MM-DD' or cast('YYYY-MM-DD',Edm.DateTimeOffset) (${where})`,
          );
        }
        const date = normalizeDateText(literal.value);
        if (date === undefined) throw filterError(`'${show(literal.value)}' is not a date (${where})`);
        return date;
      }
      case "string":
        if (literal.kind !== "string") {
          throw filterError(`'${field.name}' is text: write the value in single quotes (${where})`);
        }
        return literal.value;
    }
  }
}

function unknownFields(
  parameter: DatasetQueryParameter,
  dataset: DatasetDefinition,
  names: readonly string[],
  known: readonly string[],
): DatasetQueryError {
  const noun = names.length === 1 ? "field" : "fields";
  return new DatasetQueryError(
    parameter,
    `unknown ${noun} ${listNames(names)} for ${dataset.title} (known fields: ${known.join(", ")})`,
  );
}

function filterableNames(dataset: DatasetDefinition): string[] {
  return dataset.fields.filter((f) => f.filter.length > 0).map((f) => f.name);
}

/** Parses a filter of this dataset; throws DatasetQueryError naming every unknown field. */
export function parseDatasetFilter(dataset: DatasetDefinition, text: string): AnyFilterNode {
  if (text.length > MAX_FILTER_LENGTH) throw filterError(`longer than ${MAX_FILTER_LENGTH} characters`);
  if (text.trim() === "") throw filterError("is empty");
  const parser = new Parser(tokenize(text), dataset);
  const node = parser.parse();
  if (parser.unknown.length > 0)
    throw unknownFields("filter", dataset, parser.unknown, filterableNames(dataset));
  return node;
}

function quote(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Canonical text: lower-case keywords, single spaces, dates in the dataset's literal form. */
export function formatDatasetFilter(dataset: DatasetDefinition, node: AnyFilterNode): string {
  switch (node.kind) {
    case "compare": {
      const { value } = node;
      const field = datasetField(dataset, node.field);
      let literal: string;
      if (typeof value !== "string") literal = String(value);
      else if (field !== undefined && isDateType(field.type) && dataset.dateLiteral === "cast") {
        literal = `cast(${quote(value)},Edm.DateTimeOffset)`;
      } else literal = quote(value);
      return `${node.field} ${node.op} ${literal}`;
    }
    case "contains":
      return `contains(${node.field},${quote(node.value)})`;
    case "and": {
      const left =
        node.left.kind === "or"
          ? `(${formatDatasetFilter(dataset, node.left)})`
          : formatDatasetFilter(dataset, node.left);
      const right =
        node.right.kind === "or" || node.right.kind === "and"
          ? `(${formatDatasetFilter(dataset, node.right)})`
          : formatDatasetFilter(dataset, node.right);
      return `${left} and ${right}`;
    }
    case "or": {
      const right =
        node.right.kind === "or"
          ? `(${formatDatasetFilter(dataset, node.right)})`
          : formatDatasetFilter(dataset, node.right);
      return `${formatDatasetFilter(dataset, node.left)} or ${right}`;
    }
  }
}

function parseGroupby(dataset: DatasetDefinition, input: string | readonly string[]): string[] {
  const fail = (detail: string): DatasetQueryError => new DatasetQueryError("groupby", detail);
  const names = (typeof input === "string" ? input.split(",") : [...input]).map((n) => n.trim());
  if (names.every((n) => n === "")) throw fail("is empty");
  if (names.length > dataset.fields.length) throw fail(`more than ${dataset.fields.length} fields`);
  const groupable = dataset.fields.filter((f) => f.groupBy).map((f) => f.name);
  const unknown = names.filter((n) => n !== "" && resolveField(dataset, n) === undefined);
  if (unknown.length > 0) throw unknownFields("groupby", dataset, [...new Set(unknown)], groupable);
  const fields: string[] = [];
  names.forEach((raw, i) => {
    if (raw === "") throw fail(`empty field name at item ${i + 1}`);
    const field = resolveField(dataset, raw) as DatasetField;
    if (!field.groupBy)
      throw fail(`'${field.name}' cannot be grouped (groupable fields: ${groupable.join(", ")})`);
    if (fields.includes(field.name)) throw fail(`'${field.name}' listed twice`);
    fields.push(field.name);
  });
  return fields;
}

/** Validates a dataset's query as the service would; throws DatasetQueryError (a 400). */
export function parseDatasetQuery(dataset: DatasetDefinition, input: DatasetQueryInput): DatasetQuery {
  let filter: string | undefined;
  let filterAst: AnyFilterNode | undefined;
  if (input.filter !== undefined) {
    filterAst = parseDatasetFilter(dataset, input.filter);
    filter = formatDatasetFilter(dataset, filterAst);
  }
  const groupby = input.groupby === undefined ? undefined : parseGroupby(dataset, input.groupby);
  let aggregationLevel: AggregationLevel | undefined;
  if (input.aggregationLevel !== undefined) {
    const fail = (detail: string): DatasetQueryError => new DatasetQueryError("aggregationLevel", detail);
    if (dataset.aggregationLevels.length === 0) throw fail(`not supported by ${dataset.title}`);
    const level = input.aggregationLevel.trim().toLowerCase();
    aggregationLevel = LEVELS.find((l) => l === level && dataset.aggregationLevels.includes(l));
    if (aggregationLevel === undefined) {
      throw fail(
        `must be one of ${dataset.aggregationLevels.join(", ")} (got '${show(input.aggregationLevel)}')`,
      );
    }
    const dates = aggregationDateFields(dataset).map((f) => f.name);
    if (!groupby?.some((f) => dates.includes(f))) {
      throw fail(`needs a date field in groupby (date fields: ${dates.join(", ")})`);
    }
  }
  return {
    ...(filter !== undefined && filterAst !== undefined ? { filter, filterAst } : {}),
    ...(groupby !== undefined ? { groupby } : {}),
    ...(aggregationLevel !== undefined ? { aggregationLevel } : {}),
  };
}
