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
  switch (format) {
    case "csv":
      return openCsvFile(
        columns.map((c: ColumnSchema | string) => (typeof c === "string" ? c : c.name)),
        options,
      );
    case "json":
      return openJsonFile(options);
    case "parquet":
      // The overloads let only a schema through with Parquet.
      return openParquetFile(columns as readonly ColumnSchema[], options);
  }
}
