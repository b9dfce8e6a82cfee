import { createHash } from "node:crypto";
import { parse } from "csv-parse/sync";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import type { Manifest } from "../../src/export/manifest.js";
import { REFERRAL_FIELDS } from "../../src/partnerCenter/fields.js";
import { validateQuery } from "../../src/partnerCenter/query.js";
import { createApp } from "../../src/app/app.js";
import {
  fixtureCredential,
  readAll,
  startExportFixture,
  type ExportFixture,
} from "../support/exportFixture.js";

let fixture: ExportFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

function captureIo(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, interactive: false, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

async function cli(f: ExportFixture, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await runCli(argv, f.env, io, {
    openApp: (settings) =>
      createApp(settings, { partnerCenterCredential: fixtureCredential, logger: f.services.logger }),
  });
  return { code, out: io.lines.join("\n"), err: io.errors.join("\n") };
}

function manifestsIn(blobs: Map<string, Buffer>): [string, Manifest][] {
  return [...blobs]
    .filter(([name]) => name.endsWith("/_manifest.json") && !name.includes("/latest/"))
    .map(([name, body]) => [name, JSON.parse(body.toString("utf8")) as Manifest]);
}

const csvRows = (buf: Buffer): Record<string, string>[] => parse(buf, { columns: true, bom: true });

describe("export to blob storage", () => {
  it("exports 25,000 referrals in 10,000-row pages with complete CSV, JSON, manifest and latest/", async () => {
    fixture = await startExportFixture({ rows: 25_000 });
    const result = await cli(fixture, ["export", "--profile", "all-referrals"]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);

    const blobs = await readAll(fixture.services);
    const manifests = manifestsIn(blobs);
    expect(manifests).toHaveLength(1);
    const [manifestPath, manifest] = manifests[0]!;
    expect(manifestPath).toMatch(
      /^all-referrals\/snapshot_date=\d{4}-\d{2}-\d{2}\/run_id=\d{8}T\d{6}Z-[a-z0-9]{6}\/_manifest\.json$/,
    );
    expect(manifest.rowCount).toBe(25_000);
    expect(manifest.totalCountReported).toBe(25_000);
    expect(manifest.pages).toBe(3);
    expect(manifest.columns).toEqual([...REFERRAL_FIELDS]);
    expect(manifest.partnerCenter.requestIds).toHaveLength(3);

    // the simulator was asked with top=10000 and skips 0, 10000, 20000
    const skips = fixture.referralsRequests().map((r) => [r.query.top, r.query.skip]);
    expect(skips).toEqual([
      ["10000", "0"],
      ["10000", "10000"],
      ["10000", "20000"],
    ]);

    for (const file of manifest.files) {
      const body = blobs.get(file.path);
      expect(body, file.path).toBeDefined();
      expect(body!.length).toBe(file.bytes);
      expect(createHash("sha256").update(body!).digest("hex")).toBe(file.sha256);
      const latest = blobs.get(`all-referrals/latest/referrals.${file.format}`);
      expect(latest?.equals(body!)).toBe(true);
    }
    expect(JSON.parse(blobs.get("all-referrals/latest/_manifest.json")!.toString("utf8"))).toEqual(manifest);

    const csv = csvRows(blobs.get(manifest.files.find((f) => f.format === "csv")!.path)!);
    const json = JSON.parse(
      blobs.get(manifest.files.find((f) => f.format === "json")!.path)!.toString("utf8"),
    ) as Record<string, unknown>[];
    expect(csv).toHaveLength(25_000);
    expect(json).toHaveLength(25_000);
    expect(new Set(csv.map((r) => r.id)).size).toBe(25_000);
    expect(new Set(json.map((r) => r.id)).size).toBe(25_000);
    expect(Object.keys(csv[0]!)).toEqual([...REFERRAL_FIELDS]);

    // same rows as the simulator holds, dates as RFC 3339 UTC, nulls as empty CSV fields / JSON null
    const first = fixture.dataset.get(0);
    const jsonFirst = json.find((r) => r.id === first.id)!;
    const csvFirst = csv.find((r) => r.id === first.id)!;
    expect(jsonFirst.createdDate).toBe(`${first.createdDate!}Z`);
    expect(csvFirst.createdDate).toBe(`${first.createdDate!}Z`);
    for (const field of REFERRAL_FIELDS) {
      const value = (first as unknown as Record<string, unknown>)[field];
      if (value === null) {
        expect(jsonFirst[field]).toBeNull();
        expect(csvFirst[field]).toBe("");
      }
    }
  });

  it("exports grouped counts equal to the simulator's own computation", async () => {
    fixture = await startExportFixture({ rows: 3_000 });
    const result = await cli(fixture, ["export", "--profile", "by-market-month"]);
    expect(result.code).toBe(0);
    const blobs = await readAll(fixture.services);
    const [, manifest] = manifestsIn(blobs)[0]!;
    const expected = fixture.partnerCenter.expected(
      validateQuery({ groupby: ["customerMarket", "createdDate"], aggregationLevel: "month" }),
    ) as Record<string, unknown>[];
    const countField = manifest.columns[2]!;
    expect(manifest.columns.slice(0, 2)).toEqual(["customerMarket", "createdDate"]);
    const json = JSON.parse(blobs.get(`by-market-month/latest/referrals.json`)!.toString("utf8")) as Record<
      string,
      unknown
    >[];
    const key = (r: Record<string, unknown>): string =>
      `${r.customerMarket as string}|${((r.createdDate as string | null) ?? "").replace(/Z$/, "")}`;
    const got = new Map(json.map((r) => [key(r), r[countField]]));
    const want = new Map(expected.map((r) => [key(r), Number(r[countField])]));
    expect(got).toEqual(want);
    expect([...got.values()].reduce<number>((a, b) => a + Number(b), 0)).toBe(3_000);
    const csv = csvRows(blobs.get(`by-market-month/latest/referrals.csv`)!);
    expect(csv).toHaveLength(json.length);
    expect(manifest.rowCount).toBe(json.length);
  });

  it("keeps formulas, commas, quotes and newlines in names as data in the CSV", async () => {
    fixture = await startExportFixture({ rows: 50 });
    const tricky = [
      '=HYPERLINK("http://x")',
      "Contoso, Ltd.",
      'The "Best" Co',
      "Line one\nline two",
      "+1 Corp",
      "-minus",
      "@at",
      "\tTab",
    ];
    tricky.forEach((name, i) => fixture!.dataset.update(fixture!.dataset.get(i).id, { customerName: name }));
    expect((await cli(fixture, ["export", "--profile", "all-referrals"])).code).toBe(0);
    const blobs = await readAll(fixture.services);
    const csv = csvRows(blobs.get("all-referrals/latest/referrals.csv")!);
    const json = JSON.parse(blobs.get("all-referrals/latest/referrals.json")!.toString("utf8")) as Record<
      string,
      string
    >[];
    tricky.forEach((name, i) => {
      const id = fixture!.dataset.get(i).id;
      const dangerous = /^[=+\-@\t]/.test(name);
      expect(csv.find((r) => r.id === id)!.customerName).toBe(dangerous ? `'${name}` : name);
      expect(json.find((r) => r.id === id)!.customerName).toBe(name);
    });
    for (const row of csv) expect(row.customerName).not.toMatch(/^[=+\-@\t\r]/);
  });

  it("retries a 429 with Retry-After and a 503 with the same MS-RequestId and still exports every row", async () => {
    fixture = await startExportFixture({
      rows: 25_000,
      faults: "429:1@2,503@4",
      env: { EXPORT_PREFETCH_PAGES: "1" },
    });
    const started = Date.now();
    const result = await cli(fixture, ["export", "--profile", "all-referrals"]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000); // Retry-After: 1 was honoured
    const requests = fixture.referralsRequests();
    expect(requests).toHaveLength(5);
    const ids = requests.map((r) => r.headers["ms-requestid"]);
    expect(ids[1]).toBe(ids[2]); // the throttled request and its retry
    expect(ids[3]).toBe(ids[4]); // the 503 and its retry
    expect(new Set(ids).size).toBe(3);
    expect(new Set(requests.map((r) => r.headers["ms-correlationid"])).size).toBe(1);
    expect(requests[0]!.headers["ms-partnercenter-application"]).toMatch(/^referrals-export\//);
    const blobs = await readAll(fixture.services);
    const csv = csvRows(blobs.get("all-referrals/latest/referrals.csv")!);
    expect(new Set(csv.map((r) => r.id)).size).toBe(25_000);
    const [, manifest] = manifestsIn(blobs)[0]!;
    expect(manifest.partnerCenter.retries).toBe(2);
  });

  it("fails cleanly on a fault that never clears: exit 1, no manifest, latest/ keeps the previous run", async () => {
    fixture = await startExportFixture({
      rows: 25_000,
      env: { EXPORT_MAX_RETRIES: "2", EXPORT_PREFETCH_PAGES: "1" },
    });
    expect((await cli(fixture, ["export", "--profile", "all-referrals"])).code).toBe(0);
    const before = await readAll(fixture.services);

    fixture.partnerCenter.setFaults("500@2-1000");
    const result = await cli(fixture, ["export", "--profile", "all-referrals"]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/failed \(upstream\).*500/);
    expect(result.err).toMatch(/latest\/ still holds the previous snapshot/);

    const after = await readAll(fixture.services);
    expect(manifestsIn(after)).toHaveLength(1);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort()); // nothing of the failed run is left
    for (const name of ["referrals.csv", "referrals.json", "_manifest.json"]) {
      expect(
        after.get(`all-referrals/latest/${name}`)?.equals(before.get(`all-referrals/latest/${name}`)!),
      ).toBe(true);
    }
  });

  it.each([
    [["--filter", "status eq 'Won"], /--filter: .*unterminated/i],
    [["--filter", "custName eq 'x'"], /--filter: .*custName/],
    [["--groupby", "status,nope"], /--groupby: .*nope/],
    [["--groupby", "status", "--aggregation-level", "month"], /--aggregation-level: .*date field/],
    [["--profile", "no-such-profile"], /unknown profile 'no-such-profile'/],
    [["--format", "xml"], /--format/],
    [["--bogus"], /bogus/],
  ])("rejects bad input %j with exit 2 and no upstream request", async (args, message) => {
    fixture = await startExportFixture({ rows: 10 });
    const result = await cli(fixture, ["export", ...args]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(fixture.referralsRequests()).toHaveLength(0);
    expect((await readAll(fixture.services)).size).toBe(0);
  });

  it("names every bad setting at once with exit 2", async () => {
    fixture = await startExportFixture({ rows: 10 });
    const io = captureIo();
    const code = await runCli(
      ["export", "--profile", "all-referrals"],
      {
        ...fixture.env,
        EXPORT_PAGE_SIZE: "20000",
        PARTNER_CENTER_CLOUD: "china",
        EXPORT_PROFILES: '[{"name":"../etc"}]',
      },
      io,
    );
    expect(code).toBe(2);
    const text = io.errors.join("\n");
    expect(text).toMatch(/EXPORT_PAGE_SIZE/);
    expect(text).toMatch(/China/);
    expect(text).toMatch(/EXPORT_PROFILES\[0\]\.name/);
    expect(fixture.referralsRequests()).toHaveLength(0);
  });
});
