import { datasetField, isDateType, type DatasetDefinition } from "../partnerCenter/datasets/index.js";
import { isDateField } from "../partnerCenter/fields.js";
import type { ComparisonOperator } from "../partnerCenter/filterAst.js";
import { readField, type SimRow } from "./rowTable.js";

export type RowPredicate = (row: SimRow) => boolean;

/**
 * A parsed filter as the product's parser writes it (a compare value that is a string, or a
 * string, boolean or number once fields carry types) or as the simulator's own parser does.
 */
export type AnyFilterNode =
  | { readonly kind: "and" | "or"; readonly left: AnyFilterNode; readonly right: AnyFilterNode }
  | {
      readonly kind: "compare";
      readonly field: string;
      readonly op: ComparisonOperator;
      readonly value: string | boolean | number;
    }
  | { readonly kind: "contains"; readonly field: string; readonly value: string };

const CANONICAL_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;
const BARE_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** `YYYY-MM-DD` becomes midnight, so date and date-time literals compare as one timeline. */
function midnight(value: string): string {
  return value.length === 10 ? `${value}T00:00:00` : value;
}

/**
 * A row's date as `YYYY-MM-DDTHH:mm:ss`, the one form in which string order is time order;
 * null when absent or unreadable.
 */
export function comparableDate(value: unknown): string | null {
  if (typeof value !== "string") return null;
  if (BARE_DATE.test(value)) return midnight(value);
  if (CANONICAL_DATE.test(value)) return value.slice(0, 19);
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString().slice(0, 19);
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** How a predicate reads fields: plainly for referrals, by type and with aliases for a dataset. */
interface FieldReader {
  isDate(field: string): boolean;
  read(row: SimRow, field: string): unknown;
}

const REFERRAL_READER: FieldReader = {
  isDate: isDateField,
  read: (row, field) => row[field],
};

function datasetReader(dataset: DatasetDefinition): FieldReader {
  const aliases = new Map(dataset.fields.map((f) => [f.name, f.aliases]));
  return {
    isDate: (field) => {
      const known = datasetField(dataset, field);
      return known !== undefined && isDateType(known.type);
    },
    read: (row, field) => readField(row, field, aliases.get(field)),
  };
}

function orderedCompare(op: ComparisonOperator, value: string | number, literal: string | number): boolean {
  switch (op) {
    case "eq":
      return value === literal;
    case "ne":
      return value !== literal;
    case "gt":
      return value > literal;
    case "ge":
      return value >= literal;
    case "lt":
      return value < literal;
    case "le":
      return value <= literal;
  }
}

function compile(node: AnyFilterNode, reader: FieldReader): RowPredicate {
  switch (node.kind) {
    case "and": {
      const left = compile(node.left, reader);
      const right = compile(node.right, reader);
      return (row) => left(row) && right(row);
    }
    case "or": {
      const left = compile(node.left, reader);
      const right = compile(node.right, reader);
      return (row) => left(row) || right(row);
    }
    case "contains": {
      const { field } = node;
      const needle = node.value.toLowerCase();
      return (row) => {
        const value = text(reader.read(row, field));
        return value !== null && value.toLowerCase().includes(needle);
      };
    }
    case "compare": {
      const { field, op } = node;
      if (reader.isDate(field)) {
        const literal = midnight(String(node.value));
        return (row) => {
          const value = comparableDate(reader.read(row, field));
          if (value === null) return op === "ne";
          return orderedCompare(op, value, literal);
        };
      }
      const literal = node.value;
      if (typeof literal === "number") {
        // Numbers order numerically; a row's number may arrive as a numeric string.
        return (row) => {
          const raw = reader.read(row, field);
          const value =
            typeof raw === "number" ? raw : typeof raw === "string" && raw !== "" ? Number(raw) : NaN;
          if (Number.isNaN(value)) return op === "ne";
          return orderedCompare(op, value, literal);
        };
      }
      // Text and booleans: exact equality of the written form (true matches true, '7' matches 7).
      const expected = String(literal);
      return (row) => {
        const value = text(reader.read(row, field));
        if (op === "ne") return value !== expected;
        return op === "eq" && value === expected;
      };
    }
  }
}

/**
 * Turns a filter into a row predicate, doing per-filter work (lower-casing, date normalisation)
 * once. Semantics: eq/ne compare text exactly (dates as instants, a bare date meaning midnight;
 * booleans and numbers by their written form); contains is a case-insensitive substring test; null
 * never matches eq, contains or an order comparison, and always matches ne. Without a dataset the
 * fields are referrals'; with one, its field types say which are dates and its aliases are read
 * where the documented name is absent.
 */
export function compileFilter(node: AnyFilterNode, dataset?: DatasetDefinition): RowPredicate {
  return compile(node, dataset === undefined ? REFERRAL_READER : datasetReader(dataset));
}

export function matchesFilter(node: AnyFilterNode, row: SimRow, dataset?: DatasetDefinition): boolean {
  return compileFilter(node, dataset)(row);
}
