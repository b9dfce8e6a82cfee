import type { BaselineCursor } from "./baseline.js";
import { BaselineLine } from "./baseline.js";
import { changedFields } from "./compared.js";
import type { ChangeCounts } from "./diff.js";
import type { FeedSink } from "./feedWriter.js";

/**
 * Referrals read from one baseline whose id the other has not shown yet, at most: about 250 bytes
 * each (the line's text and a map entry), so 12 MB. Two runs of a profile list their referrals in
 * nearly the same order (Partner Center pages in a fixed order; new referrals shift the rest by
 * their number), and only the referrals between an id's place in one list and in the other wait.
 */
export const MAX_WAITING = 50_000;

/**
 * Compares this run's baseline with the previous run's by walking both side by side, a line of
 * each in turn. Lines with the same id are compared on the spot, from their fingerprints; a line
 * whose id the other baseline has not reached yet waits, its text copied, until that id turns up
 * (or the walk ends: then it was added or removed). So nothing of the size of the snapshot is
 * kept, and each baseline is read once.
 *
 * Returns the counts, or undefined as soon as more than `maxWaiting` lines wait: the two orders
 * differ too much to compare this way, and whatever was written to `feed` must be discarded.
 */
export async function mergeBaselines(
  previous: BaselineCursor,
  current: BaselineCursor,
  feed: FeedSink,
  maxWaiting = MAX_WAITING,
): Promise<ChangeCounts | undefined> {
  /** Escaped id -> its line, of the lines waiting for their id in the other baseline. */
  const waitingPrevious = new Map<string, string>();
  const waitingCurrent = new Map<string, string>();
  const waited = new BaselineLine(current.shape);
  let changed = 0;
  const compare = (before: BaselineLine, after: BaselineLine): void => {
    if (before.sameFingerprint(after)) return;
    const was = before.values();
    const now = after.values();
    const fields = changedFields(was, now, current.shape);
    if (fields.length === 0) return;
    changed++;
    feed.write("changed", after.id(), now, was, fields);
  };
  /** The next line of a cursor, downloading as needed; false at its end. */
  const advance = async (cursor: BaselineCursor): Promise<boolean> => {
    for (;;) {
      if (cursor.next()) return true;
      await feed.drained();
      if (!(await cursor.more())) return false;
    }
  };

  let inPrevious = true;
  let inCurrent = true;
  for (;;) {
    // `next` finds the line in the text at hand; only at a chunk's end is there an await.
    inPrevious &&= previous.next() || (await advance(previous));
    inCurrent &&= current.next() || (await advance(current));
    if (!inPrevious && !inCurrent) break;
    if (inPrevious && inCurrent && previous.sameId(current)) {
      compare(previous, current);
      continue;
    }
    if (inPrevious) {
      const id = previous.idText();
      const match = waitingCurrent.get(id);
      if (match === undefined) wait(waitingPrevious, previous);
      else {
        waitingCurrent.delete(id);
        readWaiting(waited, match);
        compare(previous, waited);
      }
    }
    if (inCurrent) {
      const id = current.idText();
      const match = waitingPrevious.get(id);
      if (match === undefined) wait(waitingCurrent, current);
      else {
        waitingPrevious.delete(id);
        readWaiting(waited, match);
        compare(waited, current);
      }
    }
    if (waitingPrevious.size + waitingCurrent.size > maxWaiting) {
      await Promise.all([previous.close(), current.close()]);
      return undefined;
    }
  }
  // What still waits is in one baseline only.
  let written = 0;
  for (const [kind, lines] of [
    ["removed", waitingPrevious],
    ["added", waitingCurrent],
  ] as const)
    for (const line of lines.values()) {
      readWaiting(waited, line);
      if (kind === "removed") feed.write(kind, waited.id(), null, waited.values(), []);
      else feed.write(kind, waited.id(), waited.values(), null, []);
      if (++written % DRAIN_EVERY === 0) await feed.drained();
    }
  return { added: waitingCurrent.size, changed, removed: waitingPrevious.size };
}

/** Feed rows written between two waits for the feed's uploads. */
const DRAIN_EVERY = 1_000;

/** Keeps a line until its id turns up in the other baseline: a copy, keyed by its id's text within it. */
function wait(waiting: Map<string, string>, line: BaselineLine): void {
  const text = line.copy();
  waiting.set(text.slice(0, line.idEnd - line.start), text);
}

function readWaiting(into: BaselineLine, text: string): void {
  // The line was read once already, so it is well formed.
  into.read(text, 0, text.length);
}
