import { randomUUID } from "node:crypto";
import { finished } from "node:stream";
import type { TokenCredential } from "@azure/core-auth";
import type { PagedAsyncIterableIterator } from "@azure/core-paging";
import {
  RestError,
  bearerTokenAuthenticationPolicy,
  bearerTokenAuthenticationPolicyName,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  retryPolicy,
  type HttpClient,
  type Pipeline,
  type PipelinePolicy,
  type PipelineResponse,
} from "@azure/core-rest-pipeline";
import { PARTNER_CENTER_SCOPE } from "./clouds.js";
import type { DatasetDefinition } from "./datasets/index.js";
import {
  isEnvelopeError,
  JsonBodyReader,
  readReferralPage,
  settleBody,
  type LazyReferralPage,
  type ReferralPage,
} from "./envelope.js";
import { findCause, isAbortError } from "../common/errorChain.js";
import { isPartnerCenterError, PartnerCenterError, traceText, type PartnerCenterTrace } from "./errors.js";
import type { ReferralRow } from "./fields.js";
import { queryDataset, toQueryParams, type ValidatedQuery } from "./query.js";
import { partnerCenterRetryStrategy } from "./retry.js";
import { silentLogger, type Logger } from "../logging/logger.js";

export const MAX_PAGE_SIZE = 10_000;
export const APPLICATION_NAME = "referrals-export/0.1.0";

export interface PartnerCenterClientOptions {
  /** Origin of the API, e.g. https://api.partnercenter.microsoft.com. */
  readonly baseUrl: string;
  readonly credential: TokenCredential;
  /** Rows per page (`top`), at most 10,000 (and at most what the dataset's page documents). */
  readonly pageSize?: number;
  /** Pages fetched concurrently when the total is known (rows still come out in order). */
  readonly prefetchPages?: number;
  readonly maxRetries?: number;
  readonly requestTimeoutMs?: number;
  readonly retryBaseDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  readonly applicationName?: string;
  readonly logger?: Logger;
  readonly httpClient?: HttpClient;
  /** Text for a 403, e.g. how to check the consented account's role. */
  readonly forbiddenHint?: string;
}

export interface ListReferralsOptions {
  /** One per export run; sent as MS-CorrelationId on every request. */
  readonly correlationId: string;
  /** Epoch ms; no request or retry starts after it. */
  readonly deadline: number;
  readonly abortSignal?: AbortSignal;
}

/** A page with the identifiers Partner Center gave it. */
export interface FetchedPage extends ReferralPage {
  readonly index: number;
  readonly skip: number;
  readonly trace: PartnerCenterTrace;
}

export interface PagingStats {
  /** Pages fetched so far. */
  pages: number;
  /** Throttled responses seen (429). */
  throttled: number;
  /** Retries made (all causes). */
  retries: number;
  /** Concurrency in force at the end (drops to 1 on throttling). */
  concurrency: number;
}

/** A 200's parsed body, and how to give its buffer back once the page has been used. */
interface ParsedBody200 {
  readonly value: unknown;
  readonly release: () => void;
}

const parsedBodies = new WeakMap<PipelineResponse, ParsedBody200>();

/** A page from readReferralPages: rows are parsed and checked when asked for. */
export interface PageReader {
  readonly index: number;
  readonly skip: number;
  readonly trace: PartnerCenterTrace;
  readonly rowCount: number;
  readonly nextLink?: string;
  readonly totalCount?: number;
  /** Rows `from` to `to` (exclusive); only until the next page is asked for. */
  rows(from: number, to: number): ReferralRow[];
}

/** A fetched page whose rows are still bytes in a reused buffer (`release` gives it back). */
interface PendingPage {
  readonly page: LazyReferralPage;
  readonly index: number;
  readonly skip: number;
  readonly trace: PartnerCenterTrace;
  readonly release: () => void;
}

function unexpectedPage(index: number, error: Error, trace: PartnerCenterTrace): PartnerCenterError {
  return new PartnerCenterError(
    "bad_response",
    `Partner Center sent an unexpected page ${index}: ${error.message} (${traceText(trace)})`,
    {
      trace,
    },
  );
}

/**
 * Rows of a page, with the errors byPage() has always given: a row that breaks the envelope's rules,
 * or bytes that turn out not to be JSON (reported as a body that stayed incomplete through retries).
 */
function rowsOf(
  page: LazyReferralPage,
  from: number,
  to: number,
  index: number,
  trace: PartnerCenterTrace,
): ReferralRow[] {
  try {
    return page.rows(from, to);
  } catch (error) {
    if (isEnvelopeError(error)) throw unexpectedPage(index, error, trace);
    if (error instanceof SyntaxError)
      throw new PartnerCenterError(
        "bad_response",
        "Partner Center sent a response body that is not complete JSON, even after retries",
        { trace, cause: error },
      );
    throw error;
  }
}

/** A 200's body is read here as it streams in; other statuses keep `bodyAsText` for errors and Retry-After. */
const STREAMED_STATUSES = new Set([200]);

/** A larger Content-Length is not trusted for an allocation up front; such a body grows as it comes. */
const MAX_PRESIZED_BODY = 64 * 1024 * 1024;

/** Body buffers kept for reuse by one listing: enough for the pages in flight and the one in use. */
class BodyBuffers {
  private readonly free: Buffer[] = [];
  constructor(private readonly keep: number) {}
  /**
   * A buffer for a body of `size` bytes when the size is known (Content-Length): if none kept is
   * large enough, one just larger than the body rather than one grown by doubling to up to twice it.
   */
  take(size: number): Buffer | undefined {
    const known = Number.isSafeInteger(size) && size > 0 && size <= MAX_PRESIZED_BODY;
    const kept = this.free.pop();
    if (!known || (kept !== undefined && kept.length >= size)) return kept;
    // An eighth more, so the next page, a little longer, still fits and the buffer is kept.
    return Buffer.allocUnsafe(Math.ceil(size * 1.125));
  }
  give(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer);
  }
}

/**
 * Parses JSON inside the retry loop so a cut-off body is retried like a reset connection. The body
 * is read as it streams in (JsonBodyReader, into a reused buffer) and its rows are parsed only when
 * the page is used, so pages fetched ahead wait as bytes rather than as thousands of objects;
 * errors while reading are the ones the HTTP client itself gives for a buffered body.
 */
function jsonBodyPolicy(buffers: BodyBuffers): PipelinePolicy {
  return {
    name: "partnerCenterJsonBody",
    async sendRequest(request, next) {
      request.streamResponseStatusCodes = STREAMED_STATUSES;
      const started = Date.now();
      let response: PipelineResponse;
      let body: ParsedBody;
      try {
        response = await next(request);
        if (response.status !== 200) return response;
        body =
          response.readableStreamBody === undefined
            ? parseText(response.bodyAsText ?? "")
            : await readJson(
                response.readableStreamBody,
                buffers,
                Number(response.headers.get("content-length") ?? Number.NaN),
                request.timeout > 0 ? request.timeout - (Date.now() - started) : undefined,
              );
      } catch (error) {
        // The per-request timeout surfaces as an AbortError, which the retry policy would rethrow
        // untried; as a RestError without a response it is retried like any lost connection.
        if (isAbortError(error) && request.abortSignal?.aborted !== true)
          throw new RestError(`Partner Center did not answer within ${request.timeout} ms`, {
            code: "REQUEST_TIMEOUT",
            request,
          });
        throw error;
      }
      if (!body.complete)
        throw new RestError("Partner Center sent a response body that is not complete JSON", {
          code: "INVALID_RESPONSE_BODY",
          statusCode: response.status,
          request,
          response,
        });
      parsedBodies.set(response, { value: body.value, release: body.release });
      return response;
    },
  };
}

type ParsedBody =
  | { readonly complete: true; readonly value: unknown; readonly release: () => void }
  | { readonly complete: false };

const nothingToRelease = (): void => undefined;

function parseText(text: string): ParsedBody {
  try {
    return { complete: true, value: JSON.parse(text) as unknown, release: nothingToRelease };
  } catch {
    return { complete: false };
  }
}

/** What core-rest-pipeline hands over as a streamed body (an http.IncomingMessage underneath). */
type ResponseStream = NodeJS.ReadableStream & { destroy?: (error?: Error) => void };

/**
 * Reads a streamed body to its end through a JsonBodyReader. A failed stream rejects as the HTTP
 * client does for a buffered body (an AbortError as it is, anything else as a PARSE_ERROR
 * RestError), and the request's timeout, which the client stops watching once the headers are in,
 * keeps covering the body. Invalid JSON is known only once the whole body has been read.
 */
function readJson(
  stream: ResponseStream,
  buffers: BodyBuffers,
  contentLength: number,
  timeoutMs: number | undefined,
): Promise<ParsedBody> {
  const reader = new JsonBodyReader(buffers.take(contentLength));
  let released = false;
  const release = (): void => {
    if (released) return; // twice would hand one buffer to two bodies
    released = true;
    buffers.give(reader.recycle());
  };
  let complete = true;
  return new Promise((resolve, reject) => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => {
              const error = new Error(
                "The operation was aborted. Rejecting from abort signal callback while making request.",
              );
              error.name = "AbortError";
              stream.destroy?.(error);
            },
            Math.max(0, timeoutMs),
          );
    stream.on("data", (chunk: Buffer | string) => {
      if (!complete) return; // keep reading, so the connection stays reusable
      try {
        reader.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
      } catch {
        complete = false;
      }
    });
    finished(stream, { writable: false }, (error) => {
      clearTimeout(timer);
      if (error) {
        release();
        reject(
          isAbortError(error)
            ? error
            : new RestError(`Error reading response as text: ${error.message}`, {
                code: RestError.PARSE_ERROR,
              }),
        );
        return;
      }
      try {
        if (complete) {
          const value = reader.end();
          settleBody(value);
          resolve({ complete: true, value, release });
          return;
        }
      } catch {
        // not complete JSON
      }
      release();
      resolve({ complete: false });
    });
  });
}

/**
 * Client for the Partner Center analytics family on core-rest-pipeline (`GET
 * /partner/v1/analytics/referrals` and every other dataset's path, from the query's dataset):
 * bearer token policy, retries honouring Retry-After, Partner Center headers, and paging by
 * `@nextLink` or `top`/`skip`.
 */
export class PartnerCenterClient {
  private readonly origin: string;
  private readonly pageSize: number;
  private readonly httpClient: HttpClient;
  private readonly logger: Logger;

  constructor(private readonly options: PartnerCenterClientOptions) {
    const base = new URL(options.baseUrl);
    this.origin = base.origin;
    this.pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, options.pageSize ?? MAX_PAGE_SIZE));
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Lists the rows of the query's dataset (or group rows) page by page. Iterating yields rows; `byPage()` yields
   * pages with their request ids. Nothing waits for the whole result.
   */
  listReferrals(
    query: ValidatedQuery,
    options: ListReferralsOptions,
    stats: PagingStats = { pages: 0, throttled: 0, retries: 0, concurrency: 1 },
  ): PagedAsyncIterableIterator<ReferralRow, FetchedPage> {
    const pages = (): AsyncIterableIterator<FetchedPage> => this.pages(query, options, stats);
    async function* rows(): AsyncIterableIterator<ReferralRow> {
      for await (const page of pages()) yield* page.rows;
    }
    const iterator = rows();
    return {
      next: () => iterator.next(),
      [Symbol.asyncIterator]() {
        return this;
      },
      byPage: () => pages(),
    };
  }

  /**
   * The same pages as `listReferrals(...).byPage()`, but each page's rows are parsed and checked only
   * when asked for, a slice at a time, and only until the next page is asked for. Pages fetched ahead
   * wait as bytes, and rows live no longer than their slice: memory stays flat however many rows a
   * page or an export has. Errors are the ones byPage() gives, at the row they concern.
   */
  async *readReferralPages(
    query: ValidatedQuery,
    options: ListReferralsOptions,
    stats: PagingStats = { pages: 0, throttled: 0, retries: 0, concurrency: 1 },
  ): AsyncIterableIterator<PageReader> {
    for await (const pending of this.pendingPages(query, options, stats)) {
      const { page, index, trace } = pending;
      yield {
        index,
        skip: pending.skip,
        trace,
        rowCount: page.rowCount,
        ...(page.nextLink !== undefined ? { nextLink: page.nextLink } : {}),
        ...(page.totalCount !== undefined ? { totalCount: page.totalCount } : {}),
        rows: (from, to) => rowsOf(page, from, to, index, trace),
      };
    }
  }

  /** readReferralPages under the name that fits every dataset. */
  readPages(
    query: ValidatedQuery,
    options: ListReferralsOptions,
    stats?: PagingStats,
  ): AsyncIterableIterator<PageReader> {
    return this.readReferralPages(query, options, stats);
  }

  private async *pages(
    query: ValidatedQuery,
    options: ListReferralsOptions,
    stats: PagingStats,
  ): AsyncIterableIterator<FetchedPage> {
    for await (const { page, index, skip, trace, release } of this.pendingPages(query, options, stats)) {
      const rows = rowsOf(page, 0, page.rowCount, index, trace);
      release();
      yield {
        rows,
        ...(page.nextLink !== undefined ? { nextLink: page.nextLink } : {}),
        ...(page.totalCount !== undefined ? { totalCount: page.totalCount } : {}),
        index,
        skip,
        trace,
      };
    }
  }

  /** Pages in order, as they arrive; each page's buffer goes back for reuse when the next is asked for. */
  private async *pendingPages(
    query: ValidatedQuery,
    options: ListReferralsOptions,
    stats: PagingStats,
  ): AsyncIterableIterator<PendingPage> {
    const grouped = (query.groupby?.length ?? 0) > 0;
    const dataset = queryDataset(query);
    const pageSize = Math.min(this.pageSize, dataset.maxPageSize);
    const params = toQueryParams(query);
    const pipeline = this.createPipeline(options.deadline, stats);
    const inner = new AbortController();
    const signal = options.abortSignal ? AbortSignal.any([options.abortSignal, inner.signal]) : inner.signal;
    const fetchAt = (index: number, skip: number, url?: string): Promise<PendingPage> =>
      this.fetchPage(
        pipeline,
        url ?? this.pageUrl(dataset.path, params, pageSize, skip),
        index,
        skip,
        grouped,
        dataset,
        options,
        signal,
      );
    try {
      // Each page is yielded, then its buffer goes back once the consumer asks for the next one.
      let page = await fetchAt(0, 0);
      stats.pages++;
      yield page;
      page.release();
      let index = 1;
      let skip = page.page.rowCount;

      // @nextLink decides the paging itself: follow it, one page at a time.
      while (page.page.nextLink !== undefined && index < 100_000) {
        page = await fetchAt(index, skip, this.checkNextLink(page.page.nextLink));
        stats.pages++;
        yield page;
        page.release();
        index++;
        skip += page.page.rowCount;
        if (page.page.rowCount === 0) return;
      }
      if (index > 1 || page.page.rowCount < pageSize) return;

      // With a total, the remaining offsets are known: fetch ahead, emit in order.
      const total = page.page.totalCount;
      if (total !== undefined && total > skip) {
        const planned: number[] = [];
        for (let s = skip; s < total && planned.length < 100_000; s += pageSize) planned.push(s);
        // A total that fills its last page needs one more, empty page to show the data did not
        // grow: fetch it in the same window rather than alone after the rest.
        if ((total - skip) % pageSize === 0 && planned.length < 100_000) planned.push(total);
        const inFlight: { skip: number; index: number; promise: Promise<PendingPage> }[] = [];
        let next = 0;
        let concurrency = Math.max(1, this.options.prefetchPages ?? 1);
        stats.concurrency = concurrency;
        const throttledBefore = (): number => stats.throttled;
        let lastThrottled = throttledBefore();
        const topUp = (): void => {
          if (stats.throttled > lastThrottled) {
            concurrency = 1; // Partner Center is pushing back: stop fanning out.
            stats.concurrency = 1;
            lastThrottled = stats.throttled;
          }
          while (next < planned.length && inFlight.length < concurrency) {
            const s = planned[next] ?? 0;
            const promise = fetchAt(index + next, s);
            promise.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
            inFlight.push({ skip: s, index: index + next, promise });
            next++;
          }
        };
        while (next < planned.length || inFlight.length > 0) {
          topUp();
          const head = inFlight.shift();
          if (!head) break;
          page = await head.promise;
          // The next request leaves now, not after the consumer is done with this page: C requests
          // stay in flight while it works (a page on the consumer's desk is not one of them).
          topUp();
          stats.pages++;
          yield page;
          page.release();
          skip = head.skip + page.page.rowCount;
        }
        index += planned.length;
        if (page.page.rowCount < pageSize) return;
      }

      // No total (or the data grew): page with skip until a short page.
      for (let guard = 0; guard < 100_000; guard++) {
        page = await fetchAt(index, skip);
        stats.pages++;
        yield page;
        page.release();
        index++;
        skip += page.page.rowCount;
        if (page.page.rowCount < pageSize) return;
      }
      throw new PartnerCenterError(
        "bad_response",
        "Partner Center kept returning full pages past 100,000 pages",
      );
    } finally {
      inner.abort();
    }
  }

  private pageUrl(path: string, params: Record<string, string>, pageSize: number, skip: number): string {
    const url = new URL(path, this.options.baseUrl);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    url.searchParams.set("top", String(pageSize));
    url.searchParams.set("skip", String(skip));
    return url.toString();
  }

  /** A next link may be relative or absolute, but never leads the token to another host. */
  private checkNextLink(link: string): string {
    let url: URL;
    try {
      url = new URL(link, this.origin);
    } catch {
      throw new PartnerCenterError("next_link", `Partner Center returned an unusable @nextLink`);
    }
    if (url.origin !== this.origin) {
      throw new PartnerCenterError(
        "next_link",
        `Partner Center returned a @nextLink to ${url.origin}, not ${this.origin}; refusing to send the token there`,
      );
    }
    return url.toString();
  }

  private createPipeline(deadline: number, stats: PagingStats): Pipeline {
    const pipeline = createEmptyPipeline();
    const buffers = new BodyBuffers(Math.max(1, this.options.prefetchPages ?? 1) + 1);
    pipeline.addPolicy(
      retryPolicy(
        [
          partnerCenterRetryStrategy({
            baseDelayMs: this.options.retryBaseDelayMs ?? 1_000,
            maxDelayMs: this.options.retryMaxDelayMs ?? 60_000,
            deadline,
            onThrottled: () => {
              stats.throttled++;
            },
            onRetry: (info) => {
              stats.retries++;
              this.logger.warn("Partner Center request will be retried", info);
            },
          }),
        ],
        { maxRetries: this.options.maxRetries ?? 8 },
      ),
      { phase: "Retry" },
    );
    pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({
        credential: signInFailuresMarked(this.options.credential),
        scopes: PARTNER_CENTER_SCOPE,
      }),
      { phase: "Sign" },
    );
    pipeline.addPolicy(jsonBodyPolicy(buffers), {
      phase: "Sign",
      afterPolicies: [bearerTokenAuthenticationPolicyName],
    });
    return pipeline;
  }

  private async fetchPage(
    pipeline: Pipeline,
    url: string,
    index: number,
    skip: number,
    grouped: boolean,
    dataset: DatasetDefinition,
    options: ListReferralsOptions,
    signal: AbortSignal,
  ): Promise<PendingPage> {
    const remaining = options.deadline - Date.now();
    if (remaining <= 0)
      throw new PartnerCenterError("deadline", "The export deadline passed before all pages were read");
    const requestId = randomUUID(); // one per logical request, kept across its retries
    const request = createPipelineRequest({
      url,
      method: "GET",
      headers: createHttpHeaders({
        Accept: "application/json",
        "MS-RequestId": requestId,
        "MS-CorrelationId": options.correlationId,
        "MS-PartnerCenter-Application": this.options.applicationName ?? APPLICATION_NAME,
      }),
      timeout: Math.min(this.options.requestTimeoutMs ?? 120_000, remaining),
      abortSignal: AbortSignal.any([signal, AbortSignal.timeout(remaining)]),
    });
    let response: PipelineResponse;
    try {
      response = await pipeline.sendRequest(this.httpClient, request);
    } catch (error) {
      throw this.translateError(error, { requestId, correlationId: options.correlationId }, options.deadline);
    }
    const trace: PartnerCenterTrace = {
      requestId: response.headers.get("ms-requestid") ?? requestId,
      correlationId: response.headers.get("ms-correlationid") ?? options.correlationId,
      ...(response.headers.get("ms-cv") ? { cv: response.headers.get("ms-cv") } : {}),
    };
    if (response.status !== 200) throw this.statusError(response, trace);
    const body = parsedBodies.get(response);
    const release = body?.release ?? nothingToRelease;
    try {
      const page = readReferralPage(body?.value, grouped, dataset);
      this.logger.debug("Partner Center page received", {
        index,
        skip,
        rows: page.rowCount,
        requestId: trace.requestId,
        ...(trace.cv ? { cv: trace.cv } : {}),
      });
      return { page, index, skip, trace, release };
    } catch (error) {
      release();
      if (isEnvelopeError(error)) throw unexpectedPage(index, error, trace);
      throw error;
    }
  }

  private statusError(response: PipelineResponse, trace: PartnerCenterTrace): PartnerCenterError {
    const status = response.status;
    let code: string | undefined;
    let description: string | undefined;
    try {
      const body = JSON.parse(response.bodyAsText ?? "") as Record<string, unknown>;
      code =
        typeof body.code === "string"
          ? body.code
          : typeof body.code === "number"
            ? String(body.code)
            : undefined;
      description =
        typeof body.description === "string"
          ? body.description
          : typeof body.message === "string"
            ? body.message
            : undefined;
    } catch {
      // Not JSON; the status says enough.
    }
    const detail = description ? `: ${description.slice(0, 300)}` : "";
    const ref = ` (${traceText(trace)})`;
    const details = { status, ...(code ? { code } : {}), trace };
    if (status === 401)
      return new PartnerCenterError(
        "unauthorized",
        `Partner Center rejected the token (401)${detail}${ref}`,
        details,
      );
    if (status === 403)
      return new PartnerCenterError(
        "forbidden",
        `${this.options.forbiddenHint ?? "Partner Center refused the token (403): it must be a delegated (App+User) token of a user with a Partner Center role"}${detail}${ref}`,
        details,
      );
    if (status === 429)
      return new PartnerCenterError(
        "throttled",
        `Partner Center kept throttling (429) until the retries ran out${detail}${ref}`,
        details,
      );
    if (status >= 500)
      return new PartnerCenterError(
        "server",
        `Partner Center failed with ${status} until the retries ran out${detail}${ref}`,
        details,
      );
    return new PartnerCenterError("bad_request", `Partner Center answered ${status}${detail}${ref}`, details);
  }

  private translateError(error: unknown, trace: PartnerCenterTrace, deadline: number): Error {
    if (isPartnerCenterError(error)) return error;
    // A sign-in failure (Key Vault, token endpoint, consent) happened before Partner Center was called.
    const signIn = findCause(error, isPartnerCenterError);
    if (signIn) return signIn;
    if (Date.now() >= deadline - 5)
      return new PartnerCenterError(
        "deadline",
        "The export deadline passed while waiting for Partner Center",
        {
          trace,
          cause: error,
        },
      );
    if (isAbortError(error)) return error as Error;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RestError && error.code === "REQUEST_TIMEOUT")
      return new PartnerCenterError("network", `${message}, even after retries`, { trace, cause: error });
    if (error instanceof RestError && error.code === "INVALID_RESPONSE_BODY")
      return new PartnerCenterError("bad_response", `${message}, even after retries`, {
        trace,
        cause: error,
      });
    return new PartnerCenterError("network", `Could not reach Partner Center: ${message}`, {
      trace,
      cause: error,
    });
  }
}

/**
 * The credential with its failures marked as sign-in failures (the credential's own error is the
 * cause), so they are told apart from Partner Center's answers without knowing the auth module.
 */
function signInFailuresMarked(credential: TokenCredential): TokenCredential {
  return {
    async getToken(scopes, options) {
      try {
        return await credential.getToken(scopes, options);
      } catch (error) {
        if (isAbortError(error)) throw error;
        throw new PartnerCenterError("sign_in", error instanceof Error ? error.message : String(error), {
          cause: error,
        });
      }
    },
  };
}
