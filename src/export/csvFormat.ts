import { stringify, type Stringifier } from "csv-stringify";

/** Spreadsheets treat a cell that starts with one of these as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;

/** Prefixes a quote so Excel and friends show the text instead of running it (OWASP advice). */
export function guardFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

export interface CsvOptions {
  readonly columns: readonly string[];
  readonly formulaGuard: boolean;
  readonly bom: boolean;
}

/** RFC 4180 CSV (CRLF, header row, quotes only where needed, nulls as empty fields). */
export function createCsvStringifier(options: CsvOptions): Stringifier {
  return stringify({
    header: true,
    columns: [...options.columns],
    bom: options.bom,
    record_delimiter: "windows",
    quoted_match: /^\s|\s$/,
    cast: {
      string: options.formulaGuard ? guardFormula : (v) => v,
      boolean: (v) => (v ? "true" : "false"),
      object: (v) => JSON.stringify(v),
    },
  });
}
