import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { validateQuery } from "../../src/partnerCenter/query.js";
import {
  createDataset,
  createMutableDataset,
  type Dataset,
  type Referral,
} from "../../src/simulator/dataset.js";
import {
  createPartnerCenterRoute,
  type PartnerCenterRouteOptions,
  type PartnerCenterSimulator,
} from "../../src/simulator/partnerCenterRoute.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import type { TokenVerifier } from "../../src/simulator/types.js";

const PATH = "/partner/v1/analytics/referrals";
const AUTH = { Authorization: "Bearer test-token" };
const END = "2026-11-24T00:00:00Z";

const verifier: TokenVerifier = {
  verify(authorization) {
    if (authorization === undefined) return "missing";
    if (authorization === "Bearer test-token") return "ok";
    if (authorization === "Bearer app-only") return "app-only";
    if (authorization === "Bearer expired") return "expired";
    return "invalid";
  },
};

interface PascalPage {
  Value: Record<string, unknown>[];
  TotalCount: number;
  "@nextLink"?: string;
}

interface Harness {
  server: SimulatorServer;
  sim: PartnerCenterSimulator;
  /** GET the referrals path with these query parameters (or a full URL / path with query). */
  get(query: Record<string, string> | string, headers?: Record<string, string>): Promise<Response>;
  page(query: Record<string, string>): Promise<PascalPage>;
}

async function startHarness(
  dataset: Dataset,
  options: Omit<PartnerCenterRouteOptions, "dataset" | "tokenVerifier"> = {},
): Promise<Harness> {
  const sim = createPartnerCenterRoute({ dataset, tokenVerifier: verifier, ...options });
  const server = await startSimulatorServer({ routes: [sim.route] });
  const get = (
    query: Record<string, string> | string,
    headers: Record<string, string> = AUTH,
  ): Promise<Response> => {
    const target =
      typeof query === "string"
        ? new URL(query, server.url)
        : new URL(`${PATH}?${new URLSearchParams(query).toString()}`, server.url);
    return fetch(target, { headers });
  };
  const page = async (query: Record<string, string>): Promise<PascalPage> => {
    const res = await get(query);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as PascalPage;
  };
  return { server, sim, get, page };
}

/** Pages with top/skip until a short page, as a client without next links would. */
async function pageAll(
  h: Harness,
  query: Record<string, string>,
  top: number,
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (let skip = 0; skip < 10_000_000; skip += top) {
    const page = await h.page({ ...query, top: String(top), skip: String(skip) });
    rows.push(...page.Value);
    if (page.Value.length < top) break;
  }
  return rows;
}

describe("Partner Center simulator route: data", () => {
  const dataset = createDataset({ size: 25_000, seed: 77, end: END });
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(dataset);
  });
  afterAll(async () => {
    await h.server.close();
  });

  it("pages with top/skip and returns every row exactly once", async () => {
    const rows = await pageAll(h, {}, 10_000);
    expect(rows).toHaveLength(25_000);
    expect(new Set(rows.map((r) => r.id)).size).toBe(25_000);
    expect(rows).toEqual(h.sim.expected({}));
    const first = await h.page({ top: "3" });
    expect(first.TotalCount).toBe(25_000);
    expect(first.Value).toEqual([dataset.get(0), dataset.get(1), dataset.get(2)]);
    expect(Object.keys(first)).toEqual(["Value", "TotalCount"]);
  });

  it("defaults top to 10000 and answers a skip past the end with an empty page", async () => {
    expect((await h.page({})).Value).toHaveLength(10_000);
    const beyond = await h.page({ skip: "30000" });
    expect(beyond).toEqual({ Value: [], TotalCount: 25_000 });
  });

  it.each([
    "status eq 'Won' and customerMarket eq 'US'",
    "contains(customerName,'contoso') or status eq 'Missed'",
    "createdDate ge '2025-01-01' and createdDate lt '2025-07-01T12:00:00'",
    "(status eq 'Accepted' or status eq 'Won') and wonDate ne '2025-01-01'",
    "customerName eq 'O''Brien Consulting'",
  ])("filters like expected(): %s", async (filter) => {
    const expected = h.sim.expected(validateQuery({ filter })) as Referral[];
    expect(expected.length).toBeGreaterThan(0);
    const rows = await pageAll(h, { filter }, 700);
    expect(rows).toEqual(expected);
    const first = await h.page({ filter, top: "1" });
    expect(first.TotalCount).toBe(expected.length);
  });

  it("groups by month; the buckets sum to the filtered count", async () => {
    const filter = "status eq 'Won' or status eq 'Lost'";
    const query = { filter, groupby: "customerMarket,wonDate", aggregationLevel: "month" };
    const groups = await pageAll(h, query, 100);
    expect(groups).toEqual(h.sim.expected(validateQuery(query)));
    const filtered = h.sim.expected(validateQuery({ filter }));
    expect(groups.reduce((sum, g) => sum + Number(g.referralCount), 0)).toBe(filtered.length);
    expect(groups.some((g) => g.wonDate === null)).toBe(true);
    for (const g of groups) {
      expect(Object.keys(g)).toEqual(["customerMarket", "wonDate", "referralCount"]);
      if (g.wonDate !== null) expect(g.wonDate).toMatch(/^\d{4}-\d{2}-01T00:00:00$/);
    }
    const first = await h.page({ ...query, top: "1" });
    expect(first.TotalCount).toBe(groups.length);
  });

  it("echoes request ids and adds MS-CV", async () => {
    const res = await h.get({ top: "1" }, { ...AUTH, "MS-RequestId": "req-1", "MS-CorrelationId": "corr-1" });
    expect(res.headers.get("ms-requestid")).toBe("req-1");
    expect(res.headers.get("ms-correlationid")).toBe("corr-1");
    expect(res.headers.get("ms-cv")).toMatch(/^[A-Za-z0-9_-]+\.\d+$/);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  });

  it("matches the path case-insensitively and leaves other paths alone", async () => {
    const res = await h.get("/Partner/V1/Analytics/REFERRALS?top=2");
    expect(res.status).toBe(200);
    expect(((await res.json()) as PascalPage).Value).toHaveLength(2);
    const other = await h.get("/partner/v1/analytics/licenses/deployment");
    expect(other.status).toBe(404);
    const post = await fetch(new URL(PATH, h.server.url), { method: "POST", headers: AUTH });
    expect(post.status).toBe(405);
  });

  it.each<[Record<string, string>, string]>([
    [{ top: "0" }, "top: must be an integer from 1 to 10000"],
    [{ top: "10001" }, "top: must be an integer from 1 to 10000"],
    [{ top: "1.5" }, "top: must be an integer"],
    [{ top: "abc" }, "top: must be an integer"],
    [{ skip: "-1" }, "skip: must be an integer of 0 or more"],
    [{ skip: "x" }, "skip: must be an integer"],
    [{ filter: "custName eq 'x'" }, "filter: unknown field 'custName' at position 0"],
    [{ filter: "status eq 'x' or 1 eq 1" }, "filter: unknown field '1'"],
    [{ groupby: "status,status" }, "groupby: 'status' listed twice"],
    [{ aggregationLevel: "month" }, "aggregationLevel: needs a date field in groupby"],
  ])("answers 400 for %j", async (query, message) => {
    const res = await h.get(query);
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: "BadRequest", data: [], source: "PartnerCenter" });
    expect(body.description).toContain(message);
  });

  it("answers 400 for a repeated parameter", async () => {
    const res = await h.get(`${PATH}?top=1&top=2`);
    expect(res.status).toBe(400);
  });

  it.each<[Record<string, string>, number, string]>([
    [{}, 401, "missing"],
    [{ Authorization: "Bearer nope" }, 401, "not valid"],
    [{ Authorization: "Bearer expired" }, 401, "expired"],
    [{ Authorization: "Bearer app-only" }, 403, "App-only tokens are not accepted"],
  ])("refuses bad tokens: %j -> %i", async (headers, status, fragment) => {
    const res = await h.get({ top: "1" }, headers);
    expect(res.status).toBe(status);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.code).toBe(status === 401 ? "Unauthorized" : "Forbidden");
    expect(body.description).toContain(fragment);
  });
});

describe("Partner Center simulator route: envelopes and next links", () => {
  const dataset = createDataset({ size: 2_500, seed: 5, end: END });
  const harnesses: Harness[] = [];
  afterAll(async () => {
    await Promise.all(harnesses.map((x) => x.server.close()));
  });
  const start = async (
    options: Omit<PartnerCenterRouteOptions, "dataset" | "tokenVerifier">,
  ): Promise<Harness> => {
    const x = await startHarness(dataset, options);
    harnesses.push(x);
    return x;
  };

  it("follows relative next links to the end, carrying the query", async () => {
    const h = await start({ nextLinkMode: "relative" });
    const filter = "status ne 'Won' and contains(customerName,'o')";
    let link: string | undefined = `${PATH}?${new URLSearchParams({ filter, top: "300" }).toString()}`;
    const rows: Record<string, unknown>[] = [];
    let pages = 0;
    for (; link !== undefined && pages < 100; pages++) {
      expect(link.startsWith(`${PATH}?`)).toBe(true);
      const res = await h.get(link);
      const page = (await res.json()) as PascalPage;
      rows.push(...page.Value);
      link = page["@nextLink"];
    }
    const expected = h.sim.expected(validateQuery({ filter }));
    expect(rows).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 300));
  });

  it("writes absolute next links on the configured origin", async () => {
    const h = await start({ nextLinkMode: "absolute", absoluteOrigin: "https://api.partnercenter.example" });
    const page = await h.page({ top: "1000", skip: "1000" });
    expect(page["@nextLink"]).toBe(
      "https://api.partnercenter.example/partner/v1/analytics/referrals?top=1000&skip=2000",
    );
    const last = await h.page({ top: "1000", skip: "2000" });
    expect(last["@nextLink"]).toBeUndefined();
    expect(last.Value).toHaveLength(500);
  });

  it("defaults absolute next links to the origin the request came in on", async () => {
    const h = await start({ nextLinkMode: "absolute" });
    const first = await h.page({ top: "1000", groupby: "status" });
    expect(first["@nextLink"]).toBeUndefined();
    const page = await h.page({ top: "2000" });
    const link = page["@nextLink"] ?? "";
    expect(link.startsWith(`${h.server.url}${PATH}?`)).toBe(true);
    const rest = (await (await h.get(link)).json()) as PascalPage;
    expect([...page.Value, ...rest.Value]).toEqual(h.sim.expected({}));
  });

  it("speaks the camel and bare envelopes and a configured count field", async () => {
    const camel = await start({
      envelope: "camel",
      nextLinkMode: "relative",
      countField: "count",
      countAsString: true,
    });
    const body = (await (await camel.get({ top: "10", groupby: "status" })).json()) as Record<
      string,
      unknown
    >;
    expect(Object.keys(body)).toEqual(["value", "totalCount"]);
    expect((body.value as Record<string, unknown>[])[0]).toEqual({
      status: expect.any(String),
      count: expect.any(String),
    });
    const paged = (await (await camel.get({ top: "10" })).json()) as Record<string, unknown>;
    expect(Object.keys(paged)).toEqual(["value", "@odata.nextLink", "totalCount"]);

    const bare = await start({ envelope: "bare", nextLinkMode: "relative" });
    const array = (await (await bare.get({ top: "10", skip: "5" })).json()) as unknown[];
    expect(array).toEqual(Array.from({ length: 10 }, (_, i) => dataset.get(5 + i)));
  });
});

describe("Partner Center simulator route: faults", () => {
  const dataset = createDataset({ size: 3_000, seed: 3, end: END });
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(dataset, { faults: "429:5@1" });
  });
  afterEach(() => {
    h.sim.setFaults(undefined);
  });
  afterAll(async () => {
    await h.server.close();
  });

  it("throttles with Retry-After and the documented body, then recovers", async () => {
    const before = h.sim.referralsRequestCount;
    const res = await h.get({ top: "10" });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await res.json()).toEqual({
      statusCode: 429,
      message: "Rate limit is exceeded. Try again in 5 seconds.",
    });
    expect((await h.get({ top: "10" })).status).toBe(200);
    expect(h.sim.referralsRequestCount).toBe(before + 2);

    h.sim.setFaults("429:none@1");
    const bare = await h.get({ top: "10" });
    expect(bare.status).toBe(429);
    expect(bare.headers.get("retry-after")).toBeNull();
    await bare.body?.cancel();
  });

  it("injects server errors: JSON for 500/503, HTML for gateway 502/504", async () => {
    h.sim.setFaults("500@1,502@2,503@3,504@4");
    const statuses: [number, string | null][] = [];
    for (let i = 0; i < 4; i++) {
      const res = await h.get({ top: "1" });
      statuses.push([res.status, res.headers.get("content-type")]);
      await res.text();
    }
    expect(statuses.map(([s]) => s)).toEqual([500, 502, 503, 504]);
    expect(statuses[0]![1]).toMatch(/json/);
    expect(statuses[1]![1]).toMatch(/html/);
    expect((await h.get({ top: "1" })).status).toBe(200);
  });

  it("keeps failing under a * rule", async () => {
    h.sim.setFaults("503@*");
    for (let i = 0; i < 5; i++) {
      const res = await h.get({ top: "1" });
      expect(res.status).toBe(503);
      await res.text();
    }
  });

  it("resets the connection mid-body", async () => {
    h.sim.setFaults("reset@1");
    await expect(h.get({ top: "2000" }).then((res) => res.text())).rejects.toThrow();
    expect((await h.get({ top: "1" })).status).toBe(200);
  });

  it("truncates the JSON under a 200", async () => {
    h.sim.setFaults("truncate@1");
    const res = await h.get({ top: "100" });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith('{"Value":[')).toBe(true);
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
  });

  it("silently returns a short page while TotalCount claims everything", async () => {
    h.sim.setFaults("short@1");
    const page = await h.page({ top: "1000" });
    expect(page.Value.length).toBeLessThan(1000);
    expect(page.Value.length).toBeGreaterThan(0);
    expect(page.TotalCount).toBe(3000);
  });

  it("delays a slow response", async () => {
    h.sim.setFaults("slow:300@1");
    const started = Date.now();
    await h.page({ top: "1" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("rejects a bad fault spec", () => {
    expect(() => {
      h.sim.setFaults("teapot@1");
    }).toThrow(/bad rule 'teapot@1'/);
    expect(() => createPartnerCenterRoute({ dataset, tokenVerifier: verifier, faults: "503@0" })).toThrow(
      /request numbers start at 1/,
    );
  });

  it("answers 401 before injecting a fault", async () => {
    h.sim.setFaults("429@*");
    expect((await h.get({ top: "1" }, {})).status).toBe(401);
  });
});

describe("Partner Center simulator route: scale and caching", () => {
  it("reads only the rows of the page when unfiltered, and scans once per filter", async () => {
    const base = createDataset({ size: 200_000, seed: 12, end: END });
    let reads = 0;
    const counting: Dataset = {
      size: base.size,
      get(index) {
        reads++;
        return base.get(index);
      },
      indexOf: (id) => base.indexOf(id),
    };
    const h = await startHarness(counting);
    try {
      await h.page({ top: "100", skip: "150000" });
      expect(reads).toBe(100);

      reads = 0;
      const filter = "customerMarket eq 'JP'";
      const first = await h.page({ filter, top: "500" });
      expect(reads).toBe(200_000 + 500);
      reads = 0;
      const second = await h.page({ filter: "customerMarket EQ 'JP'", top: "500", skip: "500" });
      expect(reads).toBe(500);
      expect(second.TotalCount).toBe(first.TotalCount);
    } finally {
      await h.server.close();
    }
  });

  it("serves a 1,000,000-row set in 10,000-row pages", async () => {
    const h = await startHarness(createDataset({ size: 1_000_000, seed: 1, end: END }));
    try {
      const started = Date.now();
      const ids = new Set<unknown>();
      for (const skip of [0, 500_000, 990_000]) {
        const page = await h.page({ top: "10000", skip: String(skip) });
        expect(page.Value).toHaveLength(10_000);
        expect(page.TotalCount).toBe(1_000_000);
        for (const row of page.Value) ids.add(row.id);
      }
      expect(ids.size).toBe(30_000);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await h.server.close();
    }
  });

  it("sees changes to a mutable data set between pages", async () => {
    const data = createMutableDataset(createDataset({ size: 1_000, seed: 4, end: END }));
    const h = await startHarness(data);
    try {
      const filter = "status eq 'Won'";
      const before = (await h.page({ filter, top: "1" })).TotalCount;
      const target = (h.sim.expected(validateQuery({ filter: "status eq 'New'" })) as Referral[])[0]!;
      data.update(target.id, { status: "Won", wonDate: "2026-11-20T10:00:00" });
      const after = await h.page({ filter });
      expect(after.TotalCount).toBe(before + 1);
      expect(after.Value.map((r) => r.id)).toContain(target.id);
      data.remove(target.id);
      expect((await h.page({ filter, top: "1" })).TotalCount).toBe(before);
      expect((await h.page({ top: "1" })).TotalCount).toBe(999);
    } finally {
      await h.server.close();
    }
  });
});
