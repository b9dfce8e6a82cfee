import { stringify, type Stringifier } from "csv-stringify";
import { stringify as stringifySync } from "csv-stringify/sync";
import { decimalText, plainNumber } from "../typedValues.js";
import type { FormatWriter, FormatWriterOptions } from "./formatWriter.js";
import { TextFileWriter } from "./textFileWriter.js";

/** Prefixes a quote so Excel and friends show the text instead of running it (OWASP advice). */
export function guardFormula(value: string): string {
  // Spreadsheets treat a cell that starts with = + - @ tab or CR as a formula. (A switch on the
  // first code unit rather than a regular expression: this runs for every text field.)
  switch (value.charCodeAt(0)) {
    case 0x3d: // =
    case 0x2b: // +
    case 0x2d: // -
    case 0x40: // @
    case 0x09: // tab
    case 0x0d: // CR
      return `'${value}`;
    default:
      return value;
  }
}

export interface CsvOptions {
  readonly columns: readonly string[];
  readonly formulaGuard: boolean;
  readonly bom: boolean;
  /**
   * Columns of decimals: written with a fractional digit even when whole (`20.0`), so that readers
   * that guess types see a decimal column. Numbers elsewhere are written as they are, never with an
   * exponent.
   */
  readonly decimalColumns?: ReadonlySet<string>;
}

/** RFC 4180 CSV (CRLF, header row, quotes only where needed, nulls as empty fields). */
export function createCsvStringifier(options: CsvOptions): Stringifier {
  return stringify({
    header: true,
    columns: [...options.columns],
    bom: options.bom,
    record_delimiter: "windows",
    quoted_match: /^\s|\s$|[\r\n]/,
    cast: {
      string: options.formulaGuard ? guardFormula : (v) => v,
      number: plainNumber,
      boolean: (v) => (v ? "true" : "false"),
      object: (v) => JSON.stringify(v),
    },
  });
}

/** Renders CSV a page of rows at a time. */
export interface CsvPageFormatter {
  /** Writes these rows' CSV text; the first call with rows also writes the BOM and the header. */
  format(rows: readonly Readonly<Record<string, unknown>>[], write: (text: string) => void): void;
  /** Writes what the file still needs at its end: the BOM and header if no row ever came. */
  end(write: (text: string) => void): void;
}

/** Fields that csv-stringify quotes with the options above: a quote, the delimiter, CRLF, or edge whitespace. */
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;
/** Column names that csv-stringify reads as plain property names (anything else is a path to it). */
const PLAIN_KEY = /^\w*$/;

/**
 * Writes exactly the bytes `createCsvStringifier` writes for the same rows and options, a page per
 * call instead of a stream write per row, and without csv-stringify's per-field objects: for a
 * million rows that is most of the CSV cost. Columns that csv-stringify would resolve as paths
 * (`a.b`, `a[0]`) are left to csv-stringify itself.
 */
export function createCsvPageFormatter(options: CsvOptions): CsvPageFormatter {
  const columns = [...options.columns];
  const text = options.formulaGuard ? guardFormula : (v: string): string => v;
  let started = false;

  const fieldText = (value: unknown): string => {
    let s: string;
    if (typeof value === "string") s = text(value);
    else if (value === null || value === undefined) return "";
    else if (typeof value === "number") s = plainNumber(value);
    else if (typeof value === "bigint") s = String(value);
    else if (typeof value === "boolean") return value ? "true" : "false";
    else if (value instanceof Date) s = String(value.getTime());
    else if (typeof value === "object") s = JSON.stringify(value);
    else throw new TypeError(`Invalid Casting Value: cannot write a ${typeof value} to CSV`);
    if (!NEEDS_QUOTES.test(s)) return s;
    return `"${s.includes('"') ? s.replaceAll('"', '""') : s}"`;
  };
  const start = (write: (text: string) => void): void => {
    started = true;
    if (options.bom) write("\ufeff");
    write(`${columns.map(fieldText).join(",")}\r\n`);
  };
  const end = (write: (text: string) => void): void => {
    if (!started) start(write);
  };

  if (!columns.every((c) => PLAIN_KEY.test(c))) {
    const library = {
      header: false,
      columns,
      record_delimiter: "windows",
      quoted_match: /^\s|\s$|[\r\n]/,
      cast: {
        string: text,
        number: plainNumber,
        boolean: (v: boolean) => (v ? "true" : "false"),
        object: (v: object) => JSON.stringify(v),
      },
    } as const;
    return {
      format(rows, write) {
        if (rows.length === 0) return;
        if (!started) start(write);
        write(stringifySync([...rows], library));
      },
      end,
    };
  }

  const decimals = options.decimalColumns;
  if (decimals !== undefined && columns.some((c) => decimals.has(c))) {
    // A text function per column: decimals get their fractional digit, the rest as below.
    const decimalField = (value: unknown): string =>
      typeof value === "number" ? decimalText(value) : fieldText(value);
    const texts = columns.map((c) => (decimals.has(c) ? decimalField : fieldText));
    return {
      format(rows, write) {
        if (rows.length === 0) return;
        if (!started) start(write);
        for (const row of rows) {
          let line = "";
          for (let j = 0; j < columns.length; j++)
            line += `${j === 0 ? "" : ","}${(texts[j] as typeof fieldText)(row[columns[j] as string])}`;
          write(`${line}\r\n`);
        }
      },
      end,
    };
  }

  const first = columns[0] ?? "";
  const rest = columns.slice(1);
  return {
    format(rows, write) {
      if (rows.length === 0) return;
      if (!started) start(write);
      for (const row of rows) {
        let line = fieldText(row[first]);
        for (const column of rest) line += `,${fieldText(row[column])}`;
        write(`${line}\r\n`);
      }
    },
    end,
  };
}

/** A CSV file of a run, rendered a page at a time into its blob. */
export function openCsvFile(
  columns: readonly string[],
  options: FormatWriterOptions,
  decimalColumns?: ReadonlySet<string>,
): FormatWriter {
  return new TextFileWriter(
    "csv",
    createCsvPageFormatter({
      columns,
      formulaGuard: options.csvFormulaGuard,
      bom: options.csvBom,
      ...(decimalColumns !== undefined ? { decimalColumns } : {}),
    }),
    options,
  );
}
