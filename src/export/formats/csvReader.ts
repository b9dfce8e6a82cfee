/**
 * Reading back CSV as csv.ts writes it: the change feed reads the previous snapshot's referrals.csv
 * with it.
 */

/** In an unquoted field: the characters that end a run of plain text. */
const CSV_SPECIAL = /[,"\r]/g;

/**
 * Records of the product's CSV (RFC 4180, CRLF between records), a chunk's worth at a time. A lone
 * CR or LF is data, as the CSV writer leaves it; a leading byte-order mark is skipped.
 */
export async function* csvRecords(chunks: AsyncIterable<string>): AsyncGenerator<string[][]> {
  let record: string[] = [];
  let field = "";
  let quoted = false;
  /** A quote just closed a quoted field (or is the first half of an escaped quote). */
  let closed = false;
  let pendingCr = false;
  let first = true;
  for await (let chunk of chunks) {
    const batch: string[][] = [];
    if (first) {
      first = false;
      if (chunk.startsWith("\ufeff")) chunk = chunk.slice(1);
    }
    let i = 0;
    let nextQuote = -1;
    while (i < chunk.length) {
      if (record.length === 0 && field === "" && !quoted && !closed && !pendingCr) {
        // Between records: whole lines without a quote are split as they are (a lone CR or LF
        // in them is data, as below). Nearly every line of the product's CSV is one.
        for (let end = chunk.indexOf("\r\n", i); end >= 0; end = chunk.indexOf("\r\n", i)) {
          if (nextQuote < i) nextQuote = chunk.indexOf('"', i);
          if (nextQuote >= 0 && nextQuote < end) break;
          batch.push(chunk.slice(i, end).split(","));
          i = end + 2;
        }
        if (i >= chunk.length) break;
      }
      if (quoted) {
        const q = chunk.indexOf('"', i);
        if (q < 0) {
          field += chunk.slice(i);
          break;
        }
        field += chunk.slice(i, q);
        quoted = false;
        closed = true;
        i = q + 1;
        continue;
      }
      const c = chunk.charCodeAt(i);
      if (pendingCr) {
        pendingCr = false;
        if (c === 0x0a) {
          record.push(field);
          batch.push(record);
          record = [];
          field = "";
          closed = false;
          i++;
          continue;
        }
        field += "\r";
      }
      if (c === 0x22) {
        if (closed) field += '"';
        quoted = true;
        closed = false;
        i++;
      } else if (c === 0x2c) {
        record.push(field);
        field = "";
        closed = false;
        i++;
      } else if (c === 0x0d) {
        pendingCr = true;
        i++;
      } else {
        // Plain text up to the next comma, quote or CR, in one slice.
        CSV_SPECIAL.lastIndex = i;
        const stop = CSV_SPECIAL.exec(chunk)?.index ?? chunk.length;
        field += chunk.slice(i, stop);
        closed = false;
        i = stop;
      }
    }
    if (batch.length > 0) yield batch;
  }
  if (pendingCr) field += "\r";
  if (field.length > 0 || record.length > 0) {
    record.push(field);
    yield [record];
  }
}
