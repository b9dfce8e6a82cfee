import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { DATASETS, type DatasetDefinition, type DatasetId } from "../partnerCenter/datasets/index.js";
import {
  QueryValidationError,
  parseFilter,
  validateQuery,
  type ValidatedQuery,
} from "../partnerCenter/query.js";
import type { Dataset, Referral } from "./dataset.js";
import { DatasetQueryError } from "./datasetQuery.js";
import {
  datasetRules,
  expectedResult,
  type DatasetRules,
  type ExpectedQuery,
  type ServedQuery,
} from "./datasetResults.js";
import {
  createDatasetRows,
  DEFAULT_DATASET_ROWS,
  writesNullNextLink,
  type OtherDatasetId,
  type SimulatedDataset,
} from "./datasets/index.js";
import { parseFaultSpec, type Fault, type FaultPlan, type HttpFaultStatus } from "./faults.js";
import { matchesFilter, type AnyFilterNode } from "./filterEval.js";
import { createGrouper, groupRows, type GroupRow } from "./grouping.js";
import type { RowTable, SimRow } from "./rowTable.js";
import { sendJson } from "./server.js";
import type { SimulatorRoute, TokenVerdict, TokenVerifier } from "./types.js";

export const REFERRALS_PATH = "/partner/v1/analytics/referrals";
export const MAX_TOP = 10_000;

export type NextLinkMode = "off" | "relative" | "absolute";
/** pascal: `{Value, @nextLink, TotalCount}`; camel: `{value, @odata.nextLink, totalCount}`; bare: an array. */
export type EnvelopeStyle = "pascal" | "camel" | "bare";

export interface PartnerCenterRouteOptions {
  /** The referrals rows. */
  readonly dataset: Dataset;
  /**
   * The other datasets' rows, each served on its registry path. Those absent are generated on their
   * first request from seed 1 at DEFAULT_DATASET_ROWS, with the documented quirks on.
   */
  readonly datasets?: Partial<Record<OtherDatasetId, SimulatedDataset>>;
  readonly tokenVerifier: TokenVerifier;
  /** Fault spec (see faults.ts); request numbers count from 1. */
  readonly faults?: string;
  readonly faultSeed?: number;
  /** JSON bodies that replace a status fault's usual one: an error that echoes the request, say. */
  readonly faultBodies?: Partial<Record<HttpFaultStatus, unknown>>;
  /**
   * Time from a referrals request's arrival to its response, as a remote service would take it:
   * the simulator's own work on the page happens within it, not on top of it.
   */
  readonly latencyMs?: number;
  /**
   * Bytes of page bodies to keep and serve again (default 0: none). Each page of an unchanged data
   * set is then built once, so a benchmark measures the client rather than the simulator.
   */
  readonly bodyCacheBytes?: number;
  /** Default "off": page by skip only. */
  readonly nextLinkMode?: NextLinkMode;
  /** Origin for absolute next links; defaults to the origin the request came in on. */
  readonly absoluteOrigin?: string;
  readonly envelope?: EnvelopeStyle;
  readonly countField?: string;
  readonly countAsString?: boolean;
  /** Page size when the request has no `top`; default 10000. */
  readonly defaultTop?: number;
  /**
   * Raw JSON members (`"name":value`) added to the row at a position of the result: values that
   * JSON.stringify cannot write, such as one nested 200,000 levels deep.
   */
  readonly extraRowJson?: (position: number) => string | undefined;
}

export interface PartnerCenterSimulator {
  readonly route: SimulatorRoute;
  /** Replaces the fault plan; its request numbers count from 1 again. */
  setFaults(spec: string | undefined): void;
  /** Requests to the referrals path so far (retries included, never reset). */
  readonly referralsRequestCount: number;
  /** Requests to a dataset's path so far (retries included, never reset). */
  requestCount(id: DatasetId): number;
  /**
   * The full answer to a query, computed plainly (no cache, no paging); for tests on small data sets.
   * A query that names its dataset (`query.dataset`) is answered for that dataset; referrals otherwise.
   */
  expected(query: ValidatedQuery): Referral[] | GroupRow[] | SimRow[];
  /** The full answer to a query on one dataset, as the route would serve it (see expectedResult). */
  expectedFor(id: DatasetId, query: ExpectedQuery): SimRow[] | GroupRow[];
  /** The rows a dataset's path serves. */
  source(id: DatasetId): SimulatedDataset;
  /**
   * Builds the bodies of every unfiltered page of `top` rows into the body cache ahead of time (as
   * far as `bodyCacheBytes` allows); returns how many pages it holds.
   */
  prerender(top: number): number;
}

/** Each dataset's registry path, matched case-insensitively with an optional trailing slash. */
const PATHS: readonly { readonly definition: DatasetDefinition; readonly pattern: RegExp }[] = DATASETS.map(
  (definition) => ({
    definition,
    pattern: new RegExp(`^${definition.path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\/?$`, "i"),
  }),
);
const PARAM_NAMES = ["filter", "groupby", "aggregationlevel", "top", "skip"] as const;
type ParamName = (typeof PARAM_NAMES)[number];
const CACHE_ENTRIES = 8;

class BadRequest extends Error {}

/** A small least-recently-used map: filtered and grouped results are reused across pages. */
class LruCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly limit: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }
}

interface PageSource {
  readonly total: number;
  slice(from: number, to: number): unknown[];
}

function errorBody(code: string, description: string): Record<string, unknown> {
  return { code, description, data: [], source: "PartnerCenter" };
}

function readParams(url: URL): Partial<Record<ParamName, string>> {
  const params: Partial<Record<ParamName, string>> = {};
  for (const [rawName, value] of url.searchParams) {
    const name = PARAM_NAMES.find((n) => n === rawName.toLowerCase());
    if (name === undefined) continue;
    if (params[name] !== undefined) throw new BadRequest(`${rawName}: given more than once`);
    params[name] = value;
  }
  return params;
}

function parseTop(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = /^\d{1,6}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isInteger(value) || value < 1 || value > MAX_TOP) {
    throw new BadRequest(`top: must be an integer from 1 to ${MAX_TOP}, got '${text}'`);
  }
  return value;
}

function parseSkip(text: string | undefined): number {
  if (text === undefined) return 0;
  const value = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value))
    throw new BadRequest(`skip: must be an integer of 0 or more, got '${text}'`);
  return value;
}

const AUTH_FAILURES: Record<Exclude<TokenVerdict, "ok" | "app-only">, string> = {
  missing: "The Authorization header is missing; send a Bearer token for the user_impersonation scope.",
  invalid: "The access token is not valid for this API.",
  expired: "The access token has expired.",
};

function requestOrigin(req: IncomingMessage): string {
  const secure = (req.socket as Partial<TLSSocket>).encrypted === true;
  return `${secure ? "https" : "http"}://${req.headers.host ?? "127.0.0.1"}`;
}

/** Waits, but stops waiting if the client goes away. */
function pause(ms: number, res: ServerResponse): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      res.off("close", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once("close", done);
  });
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** One dataset's path: its rows, its rules and its caches. */
interface Served {
  readonly id: DatasetId;
  readonly path: string;
  readonly source: SimulatedDataset;
  readonly rules: DatasetRules;
  readonly matchCache: LruCache<Uint32Array>;
  readonly groupCache: LruCache<GroupRow[]>;
  requests: number;
}

/** Serves every analytics dataset's path over its rows, with paging, grouping and faults. */
export function createPartnerCenterRoute(options: PartnerCenterRouteOptions): PartnerCenterSimulator {
  const { dataset, tokenVerifier } = options;
  const envelope = options.envelope ?? "pascal";
  const nextLinkMode = options.nextLinkMode ?? "off";
  const latencyMs = options.latencyMs ?? 0;
  const defaultTop = options.defaultTop ?? MAX_TOP;
  const faultSeed = options.faultSeed ?? 1;
  const faultBodies: Partial<Record<Fault["kind"], unknown>> = options.faultBodies ?? {};
  const countOptions = {
    ...(options.countField !== undefined ? { countField: options.countField } : {}),
    ...(options.countAsString !== undefined ? { countAsString: options.countAsString } : {}),
  };
  // One plan for every dataset path: "429@1" is the first analytics request, whichever dataset.
  let plan: FaultPlan | undefined =
    options.faults === undefined ? undefined : parseFaultSpec(options.faults, faultSeed);
  const bodyCacheBytes = options.bodyCacheBytes ?? 0;
  const bodyCache = new Map<string, Buffer>();
  let bodyCacheUsed = 0;

  const servedById = new Map<DatasetId, Served>();
  const served = (id: DatasetId): Served => {
    let entry = servedById.get(id);
    if (entry === undefined) {
      const source: SimulatedDataset =
        id === "referrals"
          ? { id, rows: dataset, quirks: false }
          : (options.datasets?.[id] ?? {
              id,
              rows: createDatasetRows(id, { size: DEFAULT_DATASET_ROWS[id], seed: 1 }),
              quirks: true,
            });
      const definition = PATHS.find((p) => p.definition.id === id)?.definition;
      entry = {
        id,
        path: id === "referrals" ? REFERRALS_PATH : (definition?.path ?? ""),
        source,
        rules: datasetRules(id, source.quirks, countOptions),
        matchCache: new LruCache<Uint32Array>(CACHE_ENTRIES),
        groupCache: new LruCache<GroupRow[]>(CACHE_ENTRIES),
        requests: 0,
      };
      servedById.set(id, entry);
    }
    return entry;
  };

  /** Positions of the rows that match, found once per filter and data-set version. */
  const matchingPositions = (s: Served, filter: string, ast: AnyFilterNode): Uint32Array => {
    const rows = s.source.rows;
    const key = `${rows.version ?? 0}|${rows.size}|${filter}`;
    const cached = s.matchCache.get(key);
    if (cached) return cached;
    const predicate = s.rules.predicate(ast);
    const positions = new Uint32Array(rows.size);
    let count = 0;
    for (let i = 0; i < rows.size; i++) if (predicate(rows.get(i))) positions[count++] = i;
    const result = positions.slice(0, count);
    s.matchCache.set(key, result);
    return result;
  };

  const grouped = (s: Served, query: ServedQuery, groupby: readonly string[]): GroupRow[] => {
    const rows = s.source.rows;
    const key = JSON.stringify([rows.version ?? 0, rows.size, query.filter, groupby, query.aggregationLevel]);
    const cached = s.groupCache.get(key);
    if (cached) return cached;
    const grouper = createGrouper(s.rules.grouping({ ...query, groupby }));
    if (query.filter !== undefined && query.filterAst !== undefined) {
      for (const position of matchingPositions(s, query.filter, query.filterAst))
        grouper.add(rows.get(position));
    } else {
      for (let i = 0; i < rows.size; i++) grouper.add(rows.get(i));
    }
    const result = grouper.result();
    s.groupCache.set(key, result);
    return result;
  };

  const pageSource = (s: Served, query: ServedQuery): PageSource => {
    const rows: RowTable = s.source.rows;
    if (query.groupby !== undefined) {
      const groups = grouped(s, query, query.groupby);
      return { total: groups.length, slice: (from, to) => groups.slice(from, to) };
    }
    if (query.filter !== undefined && query.filterAst !== undefined) {
      const positions = matchingPositions(s, query.filter, query.filterAst);
      return {
        total: positions.length,
        slice: (from, to) => Array.from(positions.subarray(from, to), (p) => rows.get(p)),
      };
    }
    // Unfiltered: straight to the rows of the page, nothing else touched.
    return {
      total: rows.size,
      slice: (from, to) => {
        const page: SimRow[] = [];
        for (let i = from; i < Math.min(to, rows.size); i++) page.push(rows.get(i));
        return page;
      },
    };
  };

  const nextLink = (
    req: IncomingMessage | undefined,
    s: Served,
    query: ServedQuery,
    top: number,
    skip: number,
  ): string => {
    const params: [string, string][] = [];
    if (query.filter !== undefined) params.push(["filter", query.filter]);
    if (query.groupby !== undefined) params.push(["groupby", query.groupby.join(",")]);
    if (query.aggregationLevel !== undefined) params.push(["aggregationLevel", query.aggregationLevel]);
    params.push(["top", String(top)], ["skip", String(skip)]);
    const search = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
    const relative = `${s.path}?${search}`;
    if (nextLinkMode === "relative") return relative;
    return `${(options.absoluteOrigin ?? (req ? requestOrigin(req) : "https://127.0.0.1")).replace(/\/+$/, "")}${relative}`;
  };

  const wrap = (s: Served, rows: unknown[], total: number, link: string | undefined): unknown => {
    switch (envelope) {
      case "bare":
        return rows;
      case "camel":
        return { value: rows, ...(link !== undefined ? { "@odata.nextLink": link } : {}), totalCount: total };
      case "pascal":
        // Some datasets' documented envelopes write "@nextLink": null on the last page.
        return {
          Value: rows,
          ...(link !== undefined || writesNullNextLink(s.id) ? { "@nextLink": link ?? null } : {}),
          TotalCount: total,
        };
    }
  };

  const pageLink = (
    req: IncomingMessage | undefined,
    s: Served,
    query: ServedQuery,
    top: number,
    skip: number,
    total: number,
  ) =>
    skip + top < total && nextLinkMode !== "off" && envelope !== "bare"
      ? nextLink(req, s, query, top, skip + top)
      : undefined;

  /** `short`: silent truncation, half the page dropped while TotalCount and the next link pretend otherwise. */
  const render = (
    req: IncomingMessage | undefined,
    s: Served,
    query: ServedQuery,
    top: number,
    skip: number,
    short = false,
  ): Buffer => {
    const source = pageSource(s, query);
    const rows = source.slice(Math.min(skip, source.total), Math.min(skip + top, source.total));
    const sent = short ? rows.slice(0, Math.floor(rows.length / 2)) : rows;
    const link = pageLink(req, s, query, top, skip, source.total);
    const extra = options.extraRowJson;
    if (extra === undefined) return Buffer.from(JSON.stringify(wrap(s, sent, source.total, link)));
    // The rows go in as text, in place of a marker the envelope is written around.
    const marker = "\u0000rows\u0000";
    const rowText = sent.map((row, i) => {
      const text = JSON.stringify(row);
      const members = extra(skip + i);
      return members === undefined ? text : `${text.slice(0, -1)}${text === "{}" ? "" : ","}${members}}`;
    });
    return Buffer.from(
      JSON.stringify(wrap(s, [marker], source.total, link)).replace(JSON.stringify(marker), () =>
        rowText.join(","),
      ),
    );
  };

  /** A page body, from the cache when it holds one: only pages without a next link are kept (no host in them). */
  const page = (
    req: IncomingMessage | undefined,
    s: Served,
    query: ServedQuery,
    top: number,
    skip: number,
  ): Buffer => {
    if (bodyCacheBytes <= 0 || nextLinkMode !== "off") return render(req, s, query, top, skip);
    const rows = s.source.rows;
    const key = JSON.stringify([
      s.id,
      rows.version ?? 0,
      rows.size,
      query.filter,
      query.groupby,
      query.aggregationLevel,
      top,
      skip,
    ]);
    const cached = bodyCache.get(key);
    if (cached) return cached;
    const body = render(req, s, query, top, skip);
    if (bodyCacheUsed + body.length <= bodyCacheBytes) {
      bodyCache.set(key, body);
      bodyCacheUsed += body.length;
    }
    return body;
  };

  const sendFault = (res: ServerResponse, fault: Fault, headers: Record<string, string>): boolean => {
    const custom = faultBodies[fault.kind];
    if (custom !== undefined) {
      sendJson(res, Number(fault.kind), custom, headers);
      return true;
    }
    switch (fault.kind) {
      case "429": {
        const seconds = fault.retryAfterSeconds;
        const message =
          seconds === undefined
            ? "Rate limit is exceeded. Try again later."
            : `Rate limit is exceeded. Try again in ${seconds} seconds.`;
        sendJson(
          res,
          429,
          { statusCode: 429, message },
          {
            ...headers,
            ...(seconds !== undefined ? { "Retry-After": String(seconds) } : {}),
          },
        );
        return true;
      }
      case "400":
        sendJson(res, 400, errorBody("BadRequest", "The request is not valid."), headers);
        return true;
      case "500":
        sendJson(res, 500, errorBody("InternalServerError", "An unexpected error occurred."), headers);
        return true;
      case "503":
        sendJson(
          res,
          503,
          errorBody("ServiceUnavailable", "The service is temporarily unavailable."),
          headers,
        );
        return true;
      case "502":
      case "504": {
        // Gateways answer in HTML, not in Partner Center's JSON error shape.
        const title = fault.kind === "502" ? "502 Bad Gateway" : "504 Gateway Time-out";
        const html = `<html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>`;
        res.writeHead(Number(fault.kind), {
          ...headers,
          "content-type": "text/html",
          "content-length": Buffer.byteLength(html),
        });
        res.end(html);
        return true;
      }
      default:
        return false;
    }
  };

  const route: SimulatorRoute = async (req, res, url) => {
    const match = PATHS.find((p) => p.pattern.test(url.pathname));
    if (match === undefined) return false;
    const s = served(match.definition.id);
    const arrived = performance.now();
    const headers: Record<string, string> = {
      "MS-RequestId": headerText(req.headers["ms-requestid"]) ?? randomUUID(),
      "MS-CorrelationId": headerText(req.headers["ms-correlationid"]) ?? randomUUID(),
      "MS-CV": `${randomBytes(12).toString("base64url")}.0`,
    };
    if (req.method !== "GET") {
      sendJson(res, 405, errorBody("MethodNotAllowed", `${req.method ?? ""} is not supported here`), {
        ...headers,
        Allow: "GET",
      });
      return true;
    }
    s.requests++;
    const fault = plan?.next();

    const verdict = tokenVerifier.verify(headerText(req.headers.authorization));
    if (verdict === "app-only") {
      sendJson(
        res,
        403,
        errorBody(
          "Forbidden",
          "App-only tokens are not accepted: this API supports App+User (delegated) authentication only.",
        ),
        headers,
      );
      return true;
    }
    if (verdict !== "ok") {
      sendJson(
        res,
        401,
        { code: "Unauthorized", description: AUTH_FAILURES[verdict], data: [], source: "PartnerCenter" },
        {
          ...headers,
          "WWW-Authenticate": 'Bearer error="invalid_token"',
        },
      );
      return true;
    }
    if (fault && sendFault(res, fault, headers)) return true;

    let query: ServedQuery;
    let top: number;
    let skip: number;
    try {
      const params = readParams(url);
      query = s.rules.validate({
        filter: params.filter,
        groupby: params.groupby,
        aggregationLevel: params.aggregationlevel,
      });
      top = parseTop(params.top, defaultTop);
      skip = parseSkip(params.skip);
    } catch (error) {
      if (
        error instanceof QueryValidationError ||
        error instanceof DatasetQueryError ||
        error instanceof BadRequest
      ) {
        sendJson(res, 400, errorBody("BadRequest", error.message), headers);
        return true;
      }
      throw error;
    }

    const body =
      fault?.kind === "short" ? render(req, s, query, top, skip, true) : page(req, s, query, top, skip);

    const spent = performance.now() - arrived;
    await pause(latencyMs - spent + (fault?.kind === "slow" ? fault.delayMs : 0), res);
    if (res.destroyed || res.writableEnded) return true;

    const contentType = { "content-type": "application/json; charset=utf-8" };
    if (fault?.kind === "truncate") {
      // A well-formed HTTP response whose JSON stops half-way.
      const cut = body.subarray(0, Math.floor(body.length / 2));
      res.writeHead(200, { ...headers, ...contentType, "content-length": cut.length });
      res.end(cut);
      return true;
    }
    if (fault?.kind === "reset") {
      res.writeHead(200, { ...headers, ...contentType, "content-length": body.length });
      res.write(body.subarray(0, Math.max(1, Math.floor(body.length / 2))), () => {
        res.destroy();
      });
      return true;
    }
    res.writeHead(200, { ...headers, ...contentType, "content-length": body.length });
    res.end(body);
    return true;
  };

  const expectedFor = (id: DatasetId, query: ExpectedQuery): SimRow[] | GroupRow[] =>
    expectedResult(served(id).source, query, countOptions);

  return {
    route,
    setFaults(spec) {
      plan = spec === undefined ? undefined : parseFaultSpec(spec, faultSeed);
    },
    get referralsRequestCount() {
      return servedById.get("referrals")?.requests ?? 0;
    },
    requestCount(id) {
      return servedById.get(id)?.requests ?? 0;
    },
    source(id) {
      return served(id).source;
    },
    prerender(top) {
      const s = served("referrals");
      const query = validateQuery({});
      let pages = 0;
      for (let skip = 0; skip <= dataset.size && pages < 1_000_000; skip += top) {
        const before = bodyCache.size;
        page(undefined, s, query, top, skip);
        if (bodyCache.size === before) break; // full, or not cacheable
        pages++;
      }
      return pages;
    },
    expected(query) {
      // A query that carries its dataset (the registry's ValidatedQuery.dataset) is answered for it.
      const named = (query as { readonly dataset?: DatasetDefinition }).dataset;
      if (named !== undefined && named.id !== "referrals") return expectedFor(named.id, query);
      const ast: AnyFilterNode | undefined =
        query.filterAst ?? (query.filter !== undefined ? parseFilter(query.filter) : undefined);
      const rows: Referral[] = [];
      for (let i = 0; i < dataset.size; i++) {
        const row = dataset.get(i);
        if (ast === undefined || matchesFilter(ast, row)) rows.push(row);
      }
      if (query.groupby === undefined) return rows;
      return groupRows(rows, {
        groupby: query.groupby,
        ...(query.aggregationLevel !== undefined ? { aggregationLevel: query.aggregationLevel } : {}),
        ...countOptions,
      });
    },
    expectedFor,
  };
}
