import { createHash } from "node:crypto";
import type { ContainerClient } from "@azure/storage-blob";
import { isDateField, REFERRAL_FIELDS } from "../partnerCenter/fields.js";
import { SCHEMA_CONTENT_TYPE, SCHEMA_FILE_NAME } from "./layout.js";

/** A file published beside the data files that is not itself a snapshot format (the JSON Schema). */
export interface ManifestSideFile {
  readonly path: string;
  readonly contentType: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** Column types every format agrees on: CSV text, JSON values and Parquet physical types follow them. */
export type ColumnType = "string" | "timestamp" | "int64";

export interface ColumnSchema {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
}

export interface ColumnOptions {
  /** A grouped export: its last column is the count. */
  readonly grouped: boolean;
  /** The count's field as Partner Center sent it; absent when no row carried a numeric field. */
  readonly countField?: string | undefined;
}

/**
 * Types of an export's columns. Dates are UTC timestamps, a grouped export's count is a 64-bit
 * integer, everything else is text. Raw referral columns are Partner Center's documented fields
 * in documented order; a field documented later is appended after them, so positions never move.
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

export const JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

type JsonSchema = Record<string, unknown>;

function propertySchema(column: ColumnSchema): JsonSchema {
  const base: JsonSchema =
    column.type === "timestamp"
      ? {
          type: "string",
          format: "date-time",
          description: "UTC instant, RFC 3339 with a Z suffix",
        }
      : column.type === "int64"
        ? { type: "integer", minimum: 0 }
        : { type: "string" };
  if (!column.nullable) return base;
  return { ...base, type: [base.type as string, "null"] };
}

/**
 * JSON Schema (2020-12) of an export's JSON file: an array of row objects that carry every column
 * (null where empty). Fields Partner Center adds later stay in the JSON rows, hence
 * `additionalProperties: true`; they are named in the manifest's `droppedFields`.
 */
export function jsonSchemaFor(columns: readonly ColumnSchema[], title: string): JsonSchema {
  return {
    $schema: JSON_SCHEMA_DIALECT,
    title,
    description:
      "Rows of referrals.json, one object per row with the manifest's columns in order. Dates are UTC (RFC 3339, 'Z'); null marks an empty value. Fields Partner Center adds later are kept as extra properties and listed in the manifest's droppedFields.",
    type: "array",
    items: {
      type: "object",
      properties: Object.fromEntries(columns.map((c) => [c.name, propertySchema(c)])),
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

/** The text published beside a snapshot as referrals.schema.json. */
export function jsonSchemaText(columns: readonly ColumnSchema[], grouped: boolean): string {
  return `${JSON.stringify(jsonSchemaFor(columns, grouped ? GROUPED_TITLE : RAW_TITLE), null, 2)}\n`;
}

/** Uploads referrals.schema.json into the run folder and describes it for the manifest. */
export async function writeSchemaFile(
  container: ContainerClient,
  folder: string,
  columns: readonly ColumnSchema[],
  grouped: boolean,
  abortSignal: AbortSignal,
): Promise<ManifestSideFile> {
  const body = Buffer.from(jsonSchemaText(columns, grouped), "utf8");
  const path = `${folder}${SCHEMA_FILE_NAME}`;
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
