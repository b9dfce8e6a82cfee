import { isDateField } from "../partnerCenter/fields.js";
import type { FilterNode } from "../partnerCenter/filterAst.js";
import { normalizeDateLiteral } from "../partnerCenter/query.js";
import type { Referral } from "./dataset.js";

export type RowPredicate = (row: Referral) => boolean;

const CANONICAL_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;
const BARE_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A row's date as `YYYY-MM-DDTHH:mm:ss`, the one form in which string order is time order;
 * null when absent or unreadable.
 */
export function comparableDate(value: unknown): string | null {
  if (typeof value !== "string") return null;
  if (BARE_DATE.test(value)) return normalizeDateLiteral(value);
  if (CANONICAL_DATE.test(value)) return value.slice(0, 19);
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString().slice(0, 19);
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Turns a filter into a row predicate, doing per-filter work (lower-casing, date normalisation)
 * once. Semantics: eq/ne compare text exactly (dates as instants, a bare date meaning midnight);
 * contains is a case-insensitive substring test; null never matches eq, contains or an order
 * comparison, and always matches ne.
 */
export function compileFilter(node: FilterNode): RowPredicate {
  switch (node.kind) {
    case "and": {
      const left = compileFilter(node.left);
      const right = compileFilter(node.right);
      return (row) => left(row) && right(row);
    }
    case "or": {
      const left = compileFilter(node.left);
      const right = compileFilter(node.right);
      return (row) => left(row) || right(row);
    }
    case "contains": {
      const { field } = node;
      const needle = node.value.toLowerCase();
      return (row) => {
        const value = text(row[field]);
        return value !== null && value.toLowerCase().includes(needle);
      };
    }
    case "compare": {
      const { field, op } = node;
      if (isDateField(field)) {
        const literal = normalizeDateLiteral(node.value);
        return (row) => {
          const value = comparableDate(row[field]);
          if (value === null) return op === "ne";
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
        };
      }
      const expected = node.value;
      return (row) => {
        const value = text(row[field]);
        if (op === "ne") return value !== expected;
        return op === "eq" && value === expected;
      };
    }
  }
}

export function matchesFilter(node: FilterNode, row: Referral): boolean {
  return compileFilter(node)(row);
}
