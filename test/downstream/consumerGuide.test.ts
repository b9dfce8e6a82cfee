import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { downloadContainer, exportRun, openDuck, type Duck } from "./support.js";

/**
 * docs/consumers.md promises that its DuckDB queries over local files work. They are taken from
 * the guide as written and run against a real export: two runs on two days, with a change between.
 */
const GUIDE = readFileSync("docs/consumers.md", "utf8");
const PROFILE = "guide-referrals"; // the guide's `all-referrals`, under a name of this suite's own
const DAY = 86_400_000;

/** ```sql blocks that read the downloaded files (the Azure ones need an account). */
function localQueries(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  return blocks.filter(
    (sql) => sql.includes("'referrals/") && !/az:\/\/|abfss:\/\/|https:\/\/|SECRET/i.test(sql),
  );
}

let fixture: ExportFixture;
let duck: Duck;
let dir: string;
let root: string;

beforeAll(async () => {
  fixture = await startExportFixture({ rows: 1_500 });
  await exportRun(fixture, { profile: PROFILE, at: new Date(Date.now() - DAY) });
  let moved = false;
  for (let i = 0; i < fixture.dataset.size && !moved; i++) {
    const row = fixture.dataset.get(i);
    if (row.status === "Accepted") {
      fixture.dataset.update(row.id, { status: "Won", wonDate: "2026-10-30T12:00:00" });
      moved = true;
    }
  }
  fixture.dataset.remove(fixture.dataset.get(0).id);
  fixture.dataset.add({ ...fixture.dataset.get(1), id: "0000000077", status: "New" });
  await exportRun(fixture, { profile: PROFILE });
  dir = await mkdtemp(join(tmpdir(), "referrals-guide-"));
  root = await downloadContainer(fixture, dir);
  duck = await openDuck();
}, 120_000);

afterAll(async () => {
  duck.close();
  await fixture.close();
  await rm(dir, { recursive: true, force: true });
});

describe("docs/consumers.md", () => {
  const queries = localQueries(GUIDE);

  it("has its DuckDB queries for local files", () => {
    expect(queries.length).toBeGreaterThanOrEqual(7);
  });

  it.each(queries.map((sql, i) => [i + 1, sql] as const))(
    "query %i runs and returns rows",
    async (_, sql) => {
      const local = sql.replaceAll("'referrals/all-referrals/", `'${root}/${PROFILE}/`);
      expect(local).not.toContain("'referrals/");
      const rows = await duck.rows(local);
      expect(rows.length).toBeGreaterThan(0);

      if (/snapshot_date=\*/.test(sql)) {
        // History: both days are there.
        expect(new Set(rows.map((r) => String(r.snapshot_date))).size).toBe(2);
      }
      if (sql.includes("changes.csv")) {
        expect(Object.fromEntries(rows.map((r) => [r.change, Number(r.referrals)]))).toEqual({
          added: 1,
          changed: 1,
          removed: 1,
        });
      }
      if (sql.includes("changes.json")) {
        expect(rows).toEqual([{ previousStatus: "Accepted", status: "Won", referrals: 1n }]);
      }
      if (sql.includes("_manifest.json")) {
        expect(rows.map((r) => r.format)).toEqual(["csv", "json", "parquet"]);
      }
    },
  );
});
