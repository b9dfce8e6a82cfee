import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import { loadSettings } from "../../src/config/settings.js";
import { runExport, type ExportClient, type ExportResult } from "../../src/export/exporter.js";
import type { ExportFormat } from "../../src/export/layout.js";
import { newRunId } from "../../src/export/runId.js";
import type { PageReader } from "../../src/partnerCenter/client.js";
import type { DatasetDefinition, DatasetField } from "../../src/partnerCenter/datasets/index.js";
import { validateQuery, type ValidatedQuery } from "../../src/partnerCenter/query.js";

export type Row = Record<string, unknown>;

/** A Partner Center client that serves the given pages (as rows of JSON) for whatever it is asked. */
export interface StubClient extends ExportClient {
  readonly queries: ValidatedQuery[];
}

export function stubClient(pages: readonly (readonly Row[])[], totalCount?: number): StubClient {
  const queries: ValidatedQuery[] = [];
  return {
    queries,
    async *readReferralPages(query, _options, stats): AsyncIterableIterator<PageReader> {
      queries.push(query);
      let skip = 0;
      for (const [index, rows] of pages.entries()) {
        if (stats) stats.pages++;
        // Each page's rows parsed afresh, as the real client does.
        const text = JSON.stringify(rows);
        yield {
          index,
          skip,
          trace: { requestId: `stub-request-${index}` },
          rowCount: rows.length,
          ...(totalCount !== undefined ? { totalCount } : {}),
          rows: (from, to) => (JSON.parse(text) as Row[]).slice(from, to),
        };
        skip += rows.length;
        await Promise.resolve();
      }
    },
  };
}

/** Rows in pages of `size`. */
export function paged(rows: readonly Row[], size: number): Row[][] {
  const pages: Row[][] = [];
  for (let i = 0; i < rows.length; i += size) pages.push(rows.slice(i, i + size));
  return pages.length > 0 ? pages : [[]];
}

/**
 * A value of the field's type for row `i`, in the forms Partner Center sends: integers now as
 * numbers, now as numeric strings; timestamps with and without fractions, and date-only; decimals
 * whole and fractional. Every sixth row leaves the field out (null).
 */
export function sampleValue(field: DatasetField, i: number): unknown {
  if (i % 6 === 5) return null;
  const month = String(1 + (i % 9)).padStart(2, "0");
  const day = String(10 + (i % 18));
  switch (field.type) {
    case "string":
      return `${field.name}-${i % 7}`;
    case "timestamp":
      return i % 3 === 0
        ? `2026-${month}-${day}T0${i % 10}:15:30`
        : i % 3 === 1
          ? `2026-${month}-${day}T1${i % 10}:45:00.037`
          : `2026-${month}-${day}`;
    case "date":
      return `2025-${month}-${day}`;
    case "integer":
      return i % 2 === 0 ? String(i * 7) : i * 7;
    case "decimal":
      return i % 2 === 0 ? i * 2 : i * 0.25;
    case "boolean":
      return i % 2 === 0;
  }
}

/** `count` rows of the given fields. */
export function sampleRows(fields: readonly DatasetField[], count: number): Row[] {
  return Array.from({ length: count }, (_, i) =>
    Object.fromEntries(fields.map((f) => [f.name, sampleValue(f, i)])),
  );
}

/** A query of the dataset, as the query validator gives it. */
export function queryOf(
  dataset: DatasetDefinition,
  groupby?: readonly string[],
  aggregationLevel?: "day" | "week" | "month",
): ValidatedQuery {
  return validateQuery(
    {
      ...(groupby !== undefined ? { groupby: [...groupby] } : {}),
      ...(aggregationLevel !== undefined ? { aggregationLevel } : {}),
    },
    dataset,
  );
}

/** Azurite and the app's export environment; Partner Center is never called (the client is a stub). */
export interface StubFixture {
  readonly app: App;
  run(options: {
    readonly profile: string;
    readonly query: ValidatedQuery;
    readonly client: ExportClient;
    readonly formats?: readonly ExportFormat[];
  }): Promise<ExportResult>;
  blobs(): Promise<Map<string, Buffer>>;
}

let counter = 0;

export async function startStubFixture(env: Record<string, string> = {}): Promise<StubFixture> {
  const settings = loadSettings({
    LOCAL_MODE: "true",
    // Never called: every export here reads from a stub client.
    PARTNER_CENTER_BASE_URL: "https://127.0.0.1:9",
    EXPORT_STORAGE_CONNECTION_STRING: inject("azuriteConnectionString"),
    EXPORT_CONTAINER: `ds-${process.pid}-${++counter}-${Date.now().toString(36)}`,
    EXPORT_DEADLINE_SECONDS: "120",
    ...env,
  });
  const app = createApp(settings, {
    partnerCenterCredential: {
      getToken: () => Promise.resolve({ token: "unused", expiresOnTimestamp: Date.now() + 3_600_000 }),
    },
  });
  await app.ensureStorage();
  return {
    app,
    run: ({ profile, query, client, formats = ["csv", "json", "parquet"] }) =>
      runExport(
        {
          runId: newRunId(),
          profile,
          source: "profile",
          trigger: "cli",
          query,
          formats,
          correlationId: randomUUID(),
        },
        app.exportEnvironment({ client }),
      ),
    async blobs() {
      const out = new Map<string, Buffer>();
      for await (const blob of app.exportContainer.listBlobsFlat())
        out.set(blob.name, await app.exportContainer.getBlobClient(blob.name).downloadToBuffer());
      return out;
    },
  };
}
