/**
 * Reading back a JSON array as json.ts writes it (one row per line), or in any other layout: the
 * change feed reads the previous snapshot's referrals.json with it.
 */

/** Splits the objects out of a top-level JSON array character by character, whatever its layout. */
class JsonArrayScanner {
  private depth: number;
  private inString = false;
  private escaped = false;
  private pending = "";

  /** `insideArray`: the opening bracket has already been read. */
  constructor(insideArray: boolean) {
    this.depth = insideArray ? 1 : 0;
  }

  *feed(chunk: string): Generator<Record<string, unknown>> {
    let start = this.depth >= 2 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (++this.depth === 2) start = i;
      } else if ((c === 0x7d || c === 0x5d) && --this.depth === 1) {
        const value: unknown = JSON.parse(this.pending + chunk.slice(start, i + 1));
        this.pending = "";
        start = -1;
        if (isObject(value)) yield value;
      }
    }
    if (this.depth >= 2 && start >= 0) this.pending += chunk.slice(start);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A line of the product's JSON layout: a row (with or without its comma), a bracket, or neither. */
function jsonLine(line: string): Record<string, unknown> | "bracket" | undefined {
  if (line === "[" || line === "]" || line === "[]" || line === "") return "bracket";
  const body = line.endsWith(",") ? line.slice(0, -1) : line;
  if (!body.startsWith("{") || !body.endsWith("}")) return undefined;
  try {
    const value: unknown = JSON.parse(body);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The objects of a top-level JSON array, a chunk's worth at a time (one step of an async generator
 * an object made reading a million rows back several seconds slower). The product writes one row
 * per line, so lines are parsed whole (the fast way); any other layout is split character by
 * character.
 */
export async function* jsonArrayObjects(
  chunks: AsyncIterable<string>,
): AsyncGenerator<Record<string, unknown>[]> {
  let scanner: JsonArrayScanner | undefined;
  let insideArray = false;
  let rest = "";
  for await (const chunk of chunks) {
    const batch: Record<string, unknown>[] = [];
    if (scanner) {
      for (const value of scanner.feed(chunk)) batch.push(value);
    } else {
      const text = rest + chunk;
      let start = 0;
      for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
        const line = jsonLine(text.slice(start, end));
        if (line === undefined) break;
        if (line === "bracket") insideArray ||= text.startsWith("[", start);
        else batch.push(line);
        start = end + 1;
      }
      const tail = text.slice(start);
      if (tail.includes("\n")) {
        // A line that is not a row of the product's layout: read the rest character by character.
        scanner = new JsonArrayScanner(insideArray);
        for (const value of scanner.feed(tail)) batch.push(value);
      } else rest = tail;
    }
    if (batch.length > 0) yield batch;
  }
  if (!scanner && rest.length > 0) {
    const line = jsonLine(rest);
    if (line === undefined) yield [...new JsonArrayScanner(insideArray).feed(rest)];
    else if (line !== "bracket") yield [line];
  }
}
