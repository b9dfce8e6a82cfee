import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runExport } from "../../src/export/exporter.js";
import type { Manifest } from "../../src/export/manifest.js";
import { newRunId } from "../../src/export/runId.js";
import type { ColumnType } from "../../src/export/schema.js";
import { DATASETS, type DatasetId } from "../../src/partnerCenter/datasets/index.js";
import { validateQuery } from "../../src/partnerCenter/query.js";
import { startExportFixture, type ExportFixture } from "../support/exportFixture.js";
import { downloadContainer, openDuck, type Duck } from "./support.js";

/**
 * Every DuckDB query the README and docs/consumers.md show for a dataset's files runs as written
 * against real exports of that dataset, and each column it returns has the type the manifest's
 * `schema` declares: copied as written, a query gives the declared types (ids stay text).
 */
const DOCS = ["README.md", "docs/consumers.md"].map((path) => ({ path, text: readFileSync(path, "utf8") }));

/** The profile name each documented path uses, and its dataset. */
const PROFILES: readonly (readonly [string, DatasetId])[] = [
  ["all-referrals", "referrals"],
  ["search", "search"],
  ["subscriptions", "subscriptions"],
  ["indirect-resellers", "indirectResellers"],
  ["azure-usage", "azureUsage"],
  ["licenses-deployment", "licensesDeployment"],
  ["licenses-usage", "licensesUsage"],
];

const DUCKDB_TYPES: Record<ColumnType, RegExp> = {
  string: /^VARCHAR$/,
  timestamp: /^TIMESTAMP( WITH TIME ZONE)?$/,
  date: /^DATE$/,
  int64: /^BIGINT$/,
  double: /^DOUBLE$/,
  boolean: /^BOOLEAN$/,
};

/** Single statements of ```sql blocks that read a dataset file of a profile above from local disk. */
function datasetQueries(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const statements = blocks.flatMap((block) =>
    block
      .split(/;\s*\n|;\s*$/)
      .map((s) =>
        s
          .split("\n")
          .filter((line) => !line.trim().startsWith("--"))
          .join("\n")
          .trim(),
      )
      .filter((s) => s !== ""),
  );
  const files = DATASETS.map((d) => `/${d.fileStem}.`);
  return statements.filter(
    (sql) =>
      /'referrals\//.test(sql) &&
      !/az:\/\/|abfss:\/\/|https:\/\/|SECRET/i.test(sql) &&
      files.some((f) => sql.includes(f)) &&
      PROFILES.some(([profile]) => sql.includes(`'referrals/${profile}/`)),
  );
}

let fixture: ExportFixture;
let duck: Duck;
let dir: string;
const manifests = new Map<string, Manifest>();

beforeAll(async () => {
  fixture = await startExportFixture({ rows: 300 });
  for (const [profile, dataset] of PROFILES) {
    const { manifest } = await runExport(
      {
        runId: newRunId(),
        profile,
        source: "profile",
        trigger: "cli",
        query: validateQuery({}, dataset),
        formats: ["csv", "json", "parquet"],
        correlationId: randomUUID(),
      },
      fixture.services.exportEnvironment(),
    );
    manifests.set(profile, manifest);
  }
  dir = await mkdtemp(join(tmpdir(), "referrals-readme-"));
  await downloadContainer(fixture, dir);
  duck = await openDuck();
}, 180_000);

afterAll(async () => {
  duck.close();
  await fixture.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the documented DuckDB queries of every dataset", () => {
  const all = DOCS.flatMap(({ path, text }) => datasetQueries(text).map((sql) => [path, sql] as const));

  it("the README shows one query per dataset", () => {
    const readme = datasetQueries(DOCS[0]!.text);
    for (const d of DATASETS)
      expect(
        readme.some((sql) => sql.includes(`/${d.fileStem}.`)),
        d.id,
      ).toBe(true);
  });

  it.each(all)("%s: %s", async (_, sql) => {
    const profile = PROFILES.find(([p]) => sql.includes(`'referrals/${p}/`))![0];
    const manifest = manifests.get(profile)!;
    const declared = new Map(manifest.schema.map((c) => [c.name, c.type]));
    const types = await duck.types(`(${sql.replaceAll("'referrals/", `'${dir}/referrals/`)})`);
    let checked = 0;
    for (const [column, type] of Object.entries(types)) {
      const want = declared.get(column);
      if (want === undefined) continue; // a computed column (count(*), snapshot_date)
      expect(type, `${column} (${want})`).toMatch(DUCKDB_TYPES[want]);
      checked++;
    }
    const rows = await duck.rows(sql.replaceAll("'referrals/", `'${dir}/referrals/`));
    // A query of computed columns only (counts per partition) must at least answer.
    if (checked === 0) expect(rows.length).toBeGreaterThan(0);
  });
});
