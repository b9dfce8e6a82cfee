/** Comparison operators of the analytics filter; which apply to a field is the dataset's business. */
export const COMPARISON_OPERATORS = ["eq", "ne", "gt", "ge", "lt", "le"] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

/**
 * A literal as the field's type wants it: text (quoted), a date or date-time (a validated
 * `YYYY-MM-DD` or `YYYY-MM-DDTHH:mm:ss`, written quoted or as cast(…,Edm.DateTimeOffset) by the
 * dataset's rule), a boolean or a number (both written unquoted).
 */
export type FilterValue = string | boolean | number;

export interface LogicalNode {
  readonly kind: "and" | "or";
  readonly left: FilterNode;
  readonly right: FilterNode;
}

export interface CompareNode {
  readonly kind: "compare";
  /** A field of the query's dataset, spelled as documented. */
  readonly field: string;
  readonly op: ComparisonOperator;
  readonly value: FilterValue;
}

export interface ContainsNode {
  readonly kind: "contains";
  readonly field: string;
  readonly value: string;
}

/** A parsed filter of one dataset. */
export type FilterNode = LogicalNode | CompareNode | ContainsNode;
