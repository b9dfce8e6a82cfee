import type { ExportFormat } from "../layout.js";
import type { ColumnSchema } from "../schema.js";
import { openCsvFile } from "./csv.js";
import type { FormatWriter, FormatWriterOptions, TextFormat } from "./formatWriter.js";
import { openJsonFile } from "./json.js";
import { openParquetFile } from "./parquet.js";

/** Opens a file of any format; Parquet types its columns by the schema. */
export function openFormatWriter(
  format: ExportFormat,
  columns: readonly ColumnSchema[],
  options: FormatWriterOptions,
): FormatWriter;
/** Opens a file of a text format, for which the column names are enough. */
export function openFormatWriter(
  format: TextFormat,
  columns: readonly string[],
  options: FormatWriterOptions,
): FormatWriter;
export function openFormatWriter(
  format: ExportFormat,
  columns: readonly ColumnSchema[] | readonly string[],
  options: FormatWriterOptions,
): FormatWriter {
  const decimals = decimalColumns(columns);
  switch (format) {
    case "csv":
      return openCsvFile(
        columns.map((c: ColumnSchema | string) => (typeof c === "string" ? c : c.name)),
        options,
        decimals,
      );
    case "json":
      return openJsonFile(options, decimals);
    case "parquet":
      // The overloads let only a schema through with Parquet.
      return openParquetFile(columns as readonly ColumnSchema[], options);
  }
}

/** The names of the schema's decimal columns; undefined when there are none (or only names were given). */
function decimalColumns(
  columns: readonly ColumnSchema[] | readonly string[],
): ReadonlySet<string> | undefined {
  const names = columns.flatMap((c: ColumnSchema | string) =>
    typeof c !== "string" && c.type === "double" ? [c.name] : [],
  );
  return names.length > 0 ? new Set(names) : undefined;
}
