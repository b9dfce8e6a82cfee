import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import type { ExportFormat } from "../../src/export/layout.js";
import { runExport, type ExportResult } from "../../src/export/exporter.js";
import { newRunId } from "../../src/export/runId.js";
import { validateQuery, type QueryInput } from "../../src/partnerCenter/query.js";
import type { ExportFixture } from "../support/exportFixture.js";

export const ALL_FORMATS: readonly ExportFormat[] = ["csv", "json", "parquet"];

export interface RunOptions {
  readonly profile: string;
  readonly query?: QueryInput;
  readonly formats?: readonly ExportFormat[];
  /** When the run starts: its id, and so its snapshot_date, follow from it. */
  readonly at?: Date;
}

/** One export straight through the core, as the queue worker runs it. */
export function exportRun(fixture: ExportFixture, options: RunOptions): Promise<ExportResult> {
  return runExport(
    {
      runId: newRunId(options.at ?? new Date()),
      profile: options.profile,
      source: "profile",
      trigger: "cli",
      query: validateQuery(options.query ?? {}),
      formats: options.formats ?? ALL_FORMATS,
      correlationId: randomUUID(),
    },
    fixture.services.exportEnvironment(),
  );
}

/** Copies the export container to `<dir>/referrals/<blob path>`, as `az storage blob download-batch` does. */
export async function downloadContainer(fixture: ExportFixture, dir: string): Promise<string> {
  const root = join(dir, "referrals");
  const container = fixture.services.exportContainer;
  for await (const blob of container.listBlobsFlat()) {
    const target = join(root, ...blob.name.split("/"));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, await container.getBlobClient(blob.name).downloadToBuffer());
  }
  return root;
}

export interface Duck {
  readonly connection: DuckDBConnection;
  /** Rows as plain JS values (BIGINT as bigint, timestamps as Date). */
  rows(sql: string): Promise<Record<string, unknown>[]>;
  /** Column name -> DuckDB type of a query's result. */
  types(sql: string): Promise<Record<string, string>>;
  close(): void;
}

export async function openDuck(): Promise<Duck> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  await connection.run("SET TimeZone = 'UTC'");
  return {
    connection,
    async rows(sql) {
      return (await connection.runAndReadAll(sql)).getRowObjectsJS();
    },
    async types(sql) {
      const described = (await connection.runAndReadAll(`DESCRIBE ${sql}`)).getRowObjectsJS();
      return Object.fromEntries(described.map((r) => [r.column_name as string, r.column_type as string]));
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** SQL string literal. */
export const lit = (text: string): string => `'${text.replaceAll("'", "''")}'`;
