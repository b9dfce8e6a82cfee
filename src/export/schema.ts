import { createHash } from "node:crypto";
import type { ContainerClient } from "@azure/storage-blob";
import type { DatasetDefinition, DatasetField, FieldType } from "../partnerCenter/datasets/index.js";
import { isDateField, REFERRAL_FIELDS } from "../partnerCenter/fields.js";
import { SCHEMA_CONTENT_TYPE, schemaFileName } from "./layout.js";

/** A file published beside the data files that is not itself a snapshot format (the JSON Schema). */
export interface ManifestSideFile {
  readonly path: string;
  readonly contentType: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Column types every format agrees on: CSV text, JSON values and Parquet physical types follow them.
 * `int64` holds the registry's integers (and a grouped referrals export's count), `double` its decimals.
 */
export type ColumnType = "string" | "timestamp" | "date" | "int64" | "double" | "boolean";

export interface ColumnSchema {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
}

/** The column type of each registry field type. */
export const COLUMN_TYPES: Readonly<Record<FieldType, ColumnType>> = {
  string: "string",
  timestamp: "timestamp",
  date: "date",
  integer: "int64",
  decimal: "double",
  boolean: "boolean",
};

export interface ColumnOptions {
  /** A grouped export: its last column is the count. */
  readonly grouped: boolean;
  /** The count's field as Partner Center sent it; absent when no row carried a numeric field. */
  readonly countField?: string | undefined;
}

/**
 * Types of a referrals export's columns. Dates are UTC timestamps, a grouped export's count is a
 * 64-bit integer, everything else is text. Raw referral columns are Partner Center's documented
 * fields in documented order; a field documented later is appended after them, so positions never
 * move.
 */
export function describeColumns(columns: readonly string[], options: ColumnOptions): ColumnSchema[] {
  const last = columns.length - 1;
  return columns.map((name, i): ColumnSchema => {
    if (options.grouped && i === last)
      return { name, type: "int64", nullable: options.countField === undefined };
    if (isDateField(name)) return { name, type: "timestamp", nullable: true };
    // Every referral has an id (the exporter de-duplicates on it); other fields may be missing.
    return { name, type: "string", nullable: options.grouped || name !== "id" };
  });
}

/** The columns of a raw (not grouped) referrals export. */
export const REFERRAL_COLUMNS: readonly ColumnSchema[] = describeColumns(REFERRAL_FIELDS, { grouped: false });

/**
 * The fields an export of any other dataset writes as columns, in order. Ungrouped: the dataset's
 * fields in registry order, without the measures that only aggregation queries return (they would
 * be empty in every row). Grouped: the groupby fields, then every measure.
 */
export function datasetColumnFields(
  dataset: DatasetDefinition,
  groupby: readonly string[] | undefined,
): DatasetField[] {
  if (groupby === undefined || groupby.length === 0)
    return dataset.fields.filter((f) => f.groupedOnly !== true);
  const byName = new Map(dataset.fields.map((f) => [f.name, f]));
  const keys = groupby.map(
    (name): DatasetField =>
      byName.get(name) ?? { name, type: "string", filter: [], groupBy: true, description: "" },
  );
  return [...keys, ...dataset.fields.filter((f) => f.measure === true && !groupby.includes(f.name))];
}

/**
 * Columns of an export of a dataset other than referrals, typed by the registry. Every column may be
 * null: rows are exported as Partner Center sends them, and no field is guaranteed in every row.
 */
export function describeDatasetColumns(fields: readonly DatasetField[]): ColumnSchema[] {
  return fields.map((f) => ({ name: f.name, type: COLUMN_TYPES[f.type], nullable: true }));
}

export const JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

type JsonSchema = Record<string, unknown>;

/** `integerMinimum`: the lower bound of int64 columns (a referrals count is never negative), or null. */
function propertySchema(column: ColumnSchema, integerMinimum: number | null): JsonSchema {
  let base: JsonSchema;
  switch (column.type) {
    case "timestamp":
      base = { type: "string", format: "date-time", description: "UTC instant, RFC 3339 with a Z suffix" };
      break;
    case "date":
      base = { type: "string", format: "date", description: "Calendar date, YYYY-MM-DD" };
      break;
    case "int64":
      base = integerMinimum === null ? { type: "integer" } : { type: "integer", minimum: integerMinimum };
      break;
    case "double":
      base = { type: "number" };
      break;
    case "boolean":
      base = { type: "boolean" };
      break;
    case "string":
      base = { type: "string" };
      break;
  }
  if (!column.nullable) return base;
  return { ...base, type: [base.type as string, "null"] };
}

const REFERRALS_DESCRIPTION =
  "Rows of referrals.json, one object per row with the manifest's columns in order. Dates are UTC (RFC 3339, 'Z'); null marks an empty value. Fields Partner Center adds later are kept as extra properties and listed in the manifest's droppedFields.";

/**
 * JSON Schema (2020-12) of an export's JSON file: an array of row objects that carry every column
 * (null where empty). Fields Partner Center adds later stay in the JSON rows, hence
 * `additionalProperties: true`; they are named in the manifest's `droppedFields`.
 */
export function jsonSchemaFor(
  columns: readonly ColumnSchema[],
  title: string,
  description = REFERRALS_DESCRIPTION,
  integerMinimum: number | null = 0,
): JsonSchema {
  return {
    $schema: JSON_SCHEMA_DIALECT,
    title,
    description,
    type: "array",
    items: {
      type: "object",
      properties: Object.fromEntries(columns.map((c) => [c.name, propertySchema(c, integerMinimum)])),
      required: columns.map((c) => c.name),
      additionalProperties: true,
    },
  };
}

const RAW_TITLE = "Partner Center referrals export (raw referrals)";
const GROUPED_TITLE = "Partner Center referrals export (grouped counts)";

/** The schema shipped in the repository as schemas/referral.schema.json. */
export function referralJsonSchema(): JsonSchema {
  return jsonSchemaFor(REFERRAL_COLUMNS, RAW_TITLE);
}

/** The JSON Schema of an export of a dataset other than referrals. */
export function datasetJsonSchema(
  dataset: DatasetDefinition,
  columns: readonly ColumnSchema[],
  grouped: boolean,
): JsonSchema {
  const sentinels = dataset.nullSentinels ?? [];
  const description = [
    `Rows of ${dataset.fileStem}.json (${dataset.title}), one object per row with the manifest's columns in order.`,
    "Timestamps are UTC (RFC 3339 with milliseconds and 'Z'), integers and decimals are JSON numbers, booleans true/false; null marks an empty value.",
    ...(sentinels.length > 0
      ? [`Values Partner Center uses for "none" (${sentinels.join(", ")}) are exported as null.`]
      : []),
    "Fields Partner Center adds later are kept as extra properties and listed in the manifest's droppedFields.",
  ].join(" ");
  const title = `Partner Center ${dataset.title.toLowerCase()} export (${grouped ? "grouped" : "raw rows"})`;
  return jsonSchemaFor(columns, title, description, null);
}

/** The text published beside a snapshot as `<stem>.schema.json`. */
export function jsonSchemaText(
  columns: readonly ColumnSchema[],
  grouped: boolean,
  dataset?: DatasetDefinition,
): string {
  const schema =
    dataset === undefined || dataset.id === "referrals"
      ? jsonSchemaFor(columns, grouped ? GROUPED_TITLE : RAW_TITLE)
      : datasetJsonSchema(dataset, columns, grouped);
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Uploads `<stem>.schema.json` into the run folder and describes it for the manifest. */
export async function writeSchemaFile(
  container: ContainerClient,
  folder: string,
  columns: readonly ColumnSchema[],
  grouped: boolean,
  abortSignal: AbortSignal,
  dataset?: DatasetDefinition,
): Promise<ManifestSideFile> {
  const body = Buffer.from(jsonSchemaText(columns, grouped, dataset), "utf8");
  const path = `${folder}${schemaFileName(dataset?.fileStem)}`;
  await container.getBlockBlobClient(path).upload(body, body.length, {
    blobHTTPHeaders: { blobContentType: SCHEMA_CONTENT_TYPE },
    abortSignal,
  });
  return {
    path,
    contentType: SCHEMA_CONTENT_TYPE,
    bytes: body.length,
    sha256: createHash("sha256").update(body).digest("hex"),
  };
}
