import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import type { ContainerClient } from "@azure/storage-blob";
import { parse } from "csv-parse/sync";
import { expect, inject } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { loadSettings, type Settings } from "../../src/config/settings.js";
import type { Manifest } from "../../src/export/manifest.js";
import { createLogger, type Logger } from "../../src/logging/logger.js";
import { DATE_FIELDS, REFERRAL_FIELDS } from "../../src/partnerCenter/fields.js";
import { createDataset, type Dataset, type Referral } from "../../src/simulator/dataset.js";
import { parseFaultSpec, type FaultKind, type FaultPlan } from "../../src/simulator/faults.js";
import {
  createPartnerCenterRoute,
  type PartnerCenterRouteOptions,
  type PartnerCenterSimulator,
} from "../../src/simulator/partnerCenterRoute.js";
import { sendJson, startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import type { SimulatorRoute } from "../../src/simulator/types.js";
import { createApp, type App } from "../../src/app/app.js";
import { recordOutput } from "../support/canary.js";
import { fixtureCredential, fixtureVerifier } from "../support/exportFixture.js";

/**
 * Test harness for the fault suite: an HTTPS Partner Center simulator over a data set the test can
 * change at any position between pages, a fresh export container in Azurite, and the CLI run
 * in-process against both. It records every fault the simulator injected.
 */

/** A data set held as a plain array, so rows can be inserted or removed at any position. */
export class ArrayDataset implements Dataset {
  version = 0;
  constructor(public rows: Referral[]) {}

  static generated(size: number, seed: number): ArrayDataset {
    const base = createDataset({ size, seed, end: "2026-11-01T00:00:00Z" });
    return new ArrayDataset(Array.from({ length: size }, (_, i) => base.get(i)));
  }

  get size(): number {
    return this.rows.length;
  }
  get(index: number): Referral {
    const row = this.rows[index];
    if (row === undefined) throw new RangeError(`row index ${index} outside 0..${this.rows.length - 1}`);
    return row;
  }
  indexOf(id: string): number {
    return this.rows.findIndex((r) => r.id === id);
  }
  insertAt(index: number, row: Referral): void {
    this.rows.splice(index, 0, row);
    this.version++;
  }
  removeAt(index: number): Referral {
    const [row] = this.rows.splice(index, 1);
    this.version++;
    if (!row) throw new RangeError(`no row at ${index}`);
    return row;
  }
  replaceAll(rows: Referral[]): void {
    this.rows = rows;
    this.version++;
  }
}

/** A referral that no generated data set holds (ids there are 10 digits from 1000000000). */
export function newReferral(n: number, overrides: Partial<Referral> = {}): Referral {
  return {
    id: `9${String(n).padStart(9, "0")}`,
    status: "New",
    customerMarket: "US",
    customerName: `Inserted Customer ${n}`,
    customerOrgSize: "10to50employees",
    acceptedDate: null,
    acknowledgedDate: null,
    archivedDate: null,
    declinedDate: null,
    expiredDate: null,
    lostDate: null,
    missedDate: null,
    createdDate: "2026-10-30T12:00:00",
    skippedDate: null,
    wonDate: null,
    partnerMarket: "US",
    ...overrides,
  };
}

export interface FaultFixtureOptions extends Partial<
  Omit<PartnerCenterRouteOptions, "dataset" | "tokenVerifier">
> {
  /** Profile name, unique per test file (profile locks live in the shared export-locks container). */
  readonly profile: string;
  readonly rows?: number;
  readonly seed?: number;
  readonly dataset?: ArrayDataset;
  readonly env?: Record<string, string>;
  /** Called for every referrals request, numbered from 1, before the simulator answers it. */
  readonly beforeRequest?: (n: number, url: URL) => void;
  /** Answers a referrals request itself (200 with this JSON) instead of the simulator, when it returns a body. */
  readonly respond?: (n: number, url: URL) => unknown;
  readonly connectionString?: string;
}

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export interface FaultFixture {
  readonly server: SimulatorServer;
  readonly partnerCenter: PartnerCenterSimulator;
  readonly dataset: ArrayDataset;
  readonly profile: string;
  readonly env: Record<string, string>;
  readonly settings: Settings;
  readonly services: App;
  readonly container: ContainerClient;
  /** Product log lines (JSON) of every run. */
  readonly logs: string[];
  /** Faults the simulator injected, in request order (one entry per faulted request). */
  readonly injected: FaultKind[];
  /** Referrals requests answered so far (retries included). */
  readonly requestCount: number;
  /** Replaces the simulator's fault plan (request numbers count from 1 again). */
  setFaults(spec: string | undefined): void;
  referralsRequests(): SimulatorServer["requests"];
  /** Runs the CLI in-process with this fixture's settings (plus overrides). */
  cli(argv: readonly string[], env?: Record<string, string>): Promise<CliResult>;
  close(): Promise<void>;
}

let containerCounter = 0;
const PATH_PATTERN = /^\/partner\/v1\/analytics\/referrals\/?$/i;

export async function startFaultFixture(options: FaultFixtureOptions): Promise<FaultFixture> {
  const tls = await createSimulatorTls(join(tmpdir(), "referrals-export-test-tls"));
  trustLocalCa(tls.caFile);
  const dataset = options.dataset ?? ArrayDataset.generated(options.rows ?? 2_000, options.seed ?? 7);
  const {
    profile,
    rows: _rows,
    seed: _seed,
    dataset: _dataset,
    env: extraEnv,
    beforeRequest,
    respond,
    connectionString,
    ...routeOptions
  } = options;
  const partnerCenter = createPartnerCenterRoute({
    ...routeOptions,
    dataset,
    tokenVerifier: fixtureVerifier,
  });

  // A second plan with the same spec and seed draws the same faults in the same order as the
  // simulator's own, so the test knows exactly which faults were injected.
  const faultSeed = options.faultSeed ?? 1;
  let mirror: FaultPlan | undefined =
    options.faults === undefined ? undefined : parseFaultSpec(options.faults, faultSeed);
  const injected: FaultKind[] = [];
  let requestCount = 0;
  const route: SimulatorRoute = (req, res, url) => {
    if (PATH_PATTERN.test(url.pathname) && req.method === "GET") {
      requestCount++;
      const fault = mirror?.next();
      if (fault) injected.push(fault.kind);
      beforeRequest?.(requestCount, url);
      const body = respond?.(requestCount, url);
      if (body !== undefined) {
        sendJson(res, 200, body);
        return Promise.resolve(true);
      }
    }
    return partnerCenter.route(req, res, url);
  };
  const server = await startSimulatorServer({
    routes: [route],
    tls: { key: tls.key, cert: tls.cert },
  });
  const container = `flt-${process.pid}-${++containerCounter}-${Date.now().toString(36)}`;
  const env: Record<string, string> = {
    LOCAL_MODE: "true",
    LOCAL_CA_CERT_FILE: tls.caFile,
    PARTNER_CENTER_BASE_URL: server.url,
    EXPORT_STORAGE_CONNECTION_STRING: connectionString ?? inject("azuriteConnectionString"),
    EXPORT_CONTAINER: container,
    EXPORT_DEADLINE_SECONDS: "120",
    EXPORT_PAGE_SIZE: "500",
    EXPORT_PROFILES: JSON.stringify([{ name: profile, formats: ["csv", "json"] }]),
    ...extraEnv,
  };
  const settings = loadSettings(env);
  const logs: string[] = [];
  const logger: Logger = createLogger("debug", (line) => {
    logs.push(line);
    recordOutput(`${line}\n`); // the log canary checks every product log line
  });
  const services = createApp(settings, { partnerCenterCredential: fixtureCredential, logger });
  await services.ensureStorage();

  return {
    server,
    partnerCenter,
    dataset,
    profile,
    env,
    settings,
    services,
    container: services.exportContainer,
    logs,
    injected,
    get requestCount() {
      return requestCount;
    },
    setFaults(spec) {
      partnerCenter.setFaults(spec);
      mirror = spec === undefined ? undefined : parseFaultSpec(spec, faultSeed);
    },
    referralsRequests: () => server.requests.filter((r) => PATH_PATTERN.test(r.path)),
    async cli(argv, overrides = {}) {
      const lines: string[] = [];
      const errors: string[] = [];
      const io: CliIo = { interactive: false, out: (l) => lines.push(l), err: (l) => errors.push(l) };
      const code = await runCli(argv, { ...env, ...overrides }, io, {
        openApp: (s) => createApp(s, { partnerCenterCredential: fixtureCredential, logger }),
      });
      return { code, out: lines.join("\n"), err: errors.join("\n") };
    },
    close: () => server.close(),
  };
}

/** A loopback HTTP(S) origin that answers 200 `{}` and records every request it gets, for token-leak checks. */
export async function startRecorder(tlsEnabled = true): Promise<SimulatorServer> {
  const tls = await createSimulatorTls(join(tmpdir(), "referrals-export-test-tls"));
  const answer: SimulatorRoute = (_req, res: ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ Value: [], TotalCount: 0 }));
    return Promise.resolve(true);
  };
  return startSimulatorServer({
    routes: [answer],
    ...(tlsEnabled ? { tls: { key: tls.key, cert: tls.cert } } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// What is in storage

/** The committed blobs of a container (name -> bytes), and the names that hold only uncommitted blocks. */
export interface StorageSnapshot {
  readonly blobs: Map<string, Buffer>;
  /**
   * Blobs whose upload never committed: invisible to every reader (listing, download) and discarded by
   * the service after a week. A run that fails after staging its first 4 MB block leaves one per file.
   */
  readonly uncommitted: string[];
}

export async function storageSnapshot(container: ContainerClient): Promise<StorageSnapshot> {
  const blobs = new Map<string, Buffer>();
  const uncommitted: string[] = [];
  for await (const item of container.listBlobsFlat({ includeUncommitedBlobs: true })) {
    try {
      blobs.set(item.name, await container.getBlobClient(item.name).downloadToBuffer());
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      uncommitted.push(item.name);
    }
  }
  return { blobs, uncommitted };
}

/** Every blob's ETag (committed or not) without downloading anything: equal listings mean nothing changed. */
export async function blobEtags(container: ContainerClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const item of container.listBlobsFlat({ includeUncommitedBlobs: true }))
    out.set(item.name, item.properties.etag);
  return out;
}

export function runManifests(snapshot: StorageSnapshot): Manifest[] {
  return [...snapshot.blobs]
    .filter(([name]) => name.endsWith("/_manifest.json") && !name.includes("/latest/"))
    .map(([, body]) => JSON.parse(body.toString("utf8")) as Manifest)
    .sort((a, b) => a.runId.localeCompare(b.runId));
}

/** A failed run changed nothing a reader can see: the same blobs with the same bytes. */
export function expectUnchanged(before: StorageSnapshot, after: StorageSnapshot): void {
  expect([...after.blobs.keys()].sort(), "blobs after the failed run").toEqual(
    [...before.blobs.keys()].sort(),
  );
  for (const [name, body] of after.blobs)
    expect(body.equals(before.blobs.get(name)!), `${name} unchanged`).toBe(true);
}

/** `latest/` is complete: its manifest's files are there, with the bytes and sha256 it names. */
export function expectLatestConsistent(snapshot: StorageSnapshot, profile: string): Manifest {
  const manifestBody = snapshot.blobs.get(`${profile}/latest/_manifest.json`);
  expect(manifestBody, "latest/_manifest.json").toBeDefined();
  const manifest = JSON.parse(manifestBody!.toString("utf8")) as Manifest;
  for (const file of manifest.files) {
    const latest = snapshot.blobs.get(`${profile}/latest/referrals.${file.format}`);
    expect(latest, `latest/referrals.${file.format}`).toBeDefined();
    expect(latest!.length).toBe(file.bytes);
    expect(sha256(latest!)).toBe(file.sha256);
  }
  return manifest;
}

export function sha256(body: Buffer): string {
  return createHash("sha256").update(body).digest("hex");
}

/** A referral as the JSON file holds it: documented field order, dates as RFC 3339 UTC. */
export function exportedRow(row: Referral): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const dates: ReadonlySet<string> = new Set(DATE_FIELDS);
  for (const field of REFERRAL_FIELDS) {
    const value = (row as unknown as Record<string, unknown>)[field];
    out[field] = dates.has(field) && typeof value === "string" ? `${value}Z` : value;
  }
  return out;
}

export const csvRecords = (body: Buffer): Record<string, string>[] =>
  parse<Record<string, string>>(body, { columns: true, bom: true });

/**
 * The run published exactly `expected`: one manifest more than `before`, its files intact (bytes,
 * sha256), JSON rows equal to the expected rows in order, CSV holding the same ids, and `latest/`
 * a byte copy of the run.
 */
export function expectPublished(
  before: StorageSnapshot,
  after: StorageSnapshot,
  profile: string,
  expected: readonly Referral[],
): Manifest {
  const known = new Set(runManifests(before).map((m) => m.runId));
  const fresh = runManifests(after).filter((m) => !known.has(m.runId));
  expect(fresh, "one new manifest").toHaveLength(1);
  const manifest = fresh[0]!;
  expect(manifest.rowCount).toBe(expected.length);
  expect(manifest.integrity.duplicatesRemoved).toBe(0);
  expect(manifest.integrity.warnings).toEqual([]);
  for (const file of manifest.files) {
    const body = after.blobs.get(file.path);
    expect(body, file.path).toBeDefined();
    expect(body!.length).toBe(file.bytes);
    expect(sha256(body!)).toBe(file.sha256);
    expect(after.blobs.get(`${profile}/latest/referrals.${file.format}`)?.equals(body!)).toBe(true);
  }
  const jsonFile = manifest.files.find((f) => f.format === "json");
  if (jsonFile) {
    const json = JSON.parse(after.blobs.get(jsonFile.path)!.toString("utf8")) as unknown[];
    expect(json.length).toBe(expected.length);
    const want = expected.map(exportedRow);
    // Compared as text first (fast for tens of thousands of rows); the deep comparison shows the difference.
    if (JSON.stringify(json) !== JSON.stringify(want)) expect(json).toEqual(want);
  }
  const csvFile = manifest.files.find((f) => f.format === "csv");
  if (csvFile) {
    const csv = csvRecords(after.blobs.get(csvFile.path)!);
    const ids = csv.map((r) => r.id);
    if (ids.join("\n") !== expected.map((r) => r.id).join("\n"))
      expect(ids).toEqual(expected.map((r) => r.id));
  }
  expect(expectLatestConsistent(after, profile)).toEqual(manifest);
  // Nothing was added but this run's files and latest/.
  const folder = manifest.files[0]!.path.replace(/[^/]+$/, "");
  for (const name of after.blobs.keys())
    if (!before.blobs.has(name))
      expect(
        name.startsWith(`${profile}/latest/`) || name.startsWith(folder),
        `unexpected blob ${name}`,
      ).toBe(true);
  return manifest;
}

/** Waits until `condition` holds, polling; throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
