import type { ReferralField } from "./fields.js";

/** Comparison operators of the referrals filter; gt/ge/lt/le apply to date fields only. */
export const COMPARISON_OPERATORS = ["eq", "ne", "gt", "ge", "lt", "le"] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

export interface LogicalNode {
  readonly kind: "and" | "or";
  readonly left: FilterNode;
  readonly right: FilterNode;
}

export interface CompareNode {
  readonly kind: "compare";
  readonly field: ReferralField;
  readonly op: ComparisonOperator;
  /** The unquoted value; for date fields a validated `YYYY-MM-DD` or `YYYY-MM-DDTHH:mm:ss`. */
  readonly value: string;
}

export interface ContainsNode {
  readonly kind: "contains";
  readonly field: ReferralField;
  readonly value: string;
}

/** A parsed referrals filter. */
export type FilterNode = LogicalNode | CompareNode | ContainsNode;
