/** Every Partner Center analytics dataset the product knows; the first is the default of a profile. */
export const DATASET_IDS = [
  "referrals",
  "search",
  "subscriptions",
  "indirectResellers",
  "azureUsage",
  "licensesDeployment",
  "licensesUsage",
] as const;
export type DatasetId = (typeof DATASET_IDS)[number];

export type FieldType = "string" | "timestamp" | "date" | "integer" | "decimal" | "boolean";

export const FILTER_OPERATORS = ["eq", "ne", "gt", "ge", "lt", "le", "contains"] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

/** Equality only: what the family pages name for most fields. */
export const EQUALITY_OPERATORS = ["eq", "ne"] as const satisfies readonly FilterOperator[];
/** Equality plus ordering: date fields. */
export const ORDERING_OPERATORS = [
  "eq",
  "ne",
  "gt",
  "ge",
  "lt",
  "le",
] as const satisfies readonly FilterOperator[];
/** Equality plus contains(): text fields of the referrals and search grammar. */
export const TEXT_OPERATORS = ["eq", "ne", "contains"] as const satisfies readonly FilterOperator[];
export const CONTAINS_ONLY = ["contains"] as const satisfies readonly FilterOperator[];
export const NOT_FILTERABLE = [] as const satisfies readonly FilterOperator[];

export type DatasetCloud = "global" | "usgov";
export type DatasetAggregationLevel = "day" | "week" | "month";

export interface DatasetField {
  /** As documented; the column name. */
  readonly name: string;
  readonly type: FieldType;
  /** Operators the filter allows on this field; empty: not filterable. */
  readonly filter: readonly FilterOperator[];
  readonly groupBy: boolean;
  /**
   * A measure: an aggregate that grouped rows carry beside the groupby fields. Measures are never
   * filterable or groupable. Some measures also arrive in ungrouped rows (see groupedOnly).
   */
  readonly measure?: boolean;
  /**
   * Added field: the documentation says this measure appears only in the response of an
   * aggregation query, so ungrouped rows leave it empty. Only set on measures.
   */
  readonly groupedOnly?: boolean;
  /**
   * Changes whenever Partner Center reprocesses its data, not when the row itself changes (e.g.
   * `processedDateTime`): the change feed does not compare it, or every row would change nightly.
   */
  readonly volatile?: boolean;
  /** Other spellings upstream uses for this field (read when the documented name is absent). */
  readonly aliases?: readonly string[];
  /** One line, from the docs. */
  readonly description: string;
}

export interface DocumentationPage {
  readonly title: string;
  readonly url: string;
}

export interface DatasetDefinition {
  readonly id: DatasetId;
  /** e.g. "Subscription analytics". */
  readonly title: string;
  /** Appended to the cloud's base URL, e.g. "/partner/v1/analytics/subscriptions". */
  readonly path: string;
  /** File names: `${fileStem}.csv` etc. */
  readonly fileStem: string;
  /** Documented order = CSV column order (ungrouped). */
  readonly fields: readonly DatasetField[];
  /** Fields that identify an ungrouped row for the change feed; null when rows have no identity. */
  readonly key: readonly string[] | null;
  /**
   * Fields whose change makes a keyed row "changed" in the change feed, when not every other field
   * (default: every field outside the key that is neither volatile nor grouped-only).
   */
  readonly comparedFields?: readonly string[];
  /** Why there is no key (shown in the manifest); required when key is null. */
  readonly noKeyReason?: string;
  readonly clouds: readonly DatasetCloud[];
  /** The levels `aggregationLevel` takes; empty when the dataset does not offer it. */
  readonly aggregationLevels: readonly DatasetAggregationLevel[];
  /** How a date/timestamp literal is written in an outgoing filter. */
  readonly dateLiteral: "quoted" | "cast";
  /** Largest `top` the page documents. */
  readonly maxPageSize: number;
  /** Values that stand for "none" and are exported as null (e.g. "0001-01-01T00:00:00"). */
  readonly nullSentinels?: readonly string[];
  /** The documentation pages the facts come from. */
  readonly sources: readonly DocumentationPage[];
}

/** True for the types whose values are points in time (aggregationLevel buckets them). */
export function isDateType(type: FieldType): boolean {
  return type === "timestamp" || type === "date";
}

/** True for the types that can be ordered with gt/ge/lt/le. */
export function isOrderedType(type: FieldType): boolean {
  return isDateType(type) || type === "integer" || type === "decimal";
}
