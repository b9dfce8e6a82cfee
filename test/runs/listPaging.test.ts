import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { loadSettings } from "../../src/config/settings.js";
import {
  InvalidContinuationTokenError,
  encodeContinuationToken,
  isInvalidContinuationTokenError,
} from "../../src/runs/continuationToken.js";
import type { RunRecord } from "../../src/runs/runStore.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";

/** `listPage` and `runs list --continuation`: every run of a listing once, newest first, never another profile's. */

const PROFILES = [{ name: "won-deals", filter: "status eq 'Won'" }, { name: "everything" }];
const MAX_PAGES = 20;

let fixture: ExportFixture;
let app: App;
let names: { runsContainer: string; locksContainer: string; jobQueue: string };
/** Newest first. */
const wonDeals: string[] = [];
const everything: string[] = [];

function record(runId: string, profile: string, queuedAt: string): RunRecord {
  return {
    schemaVersion: 1,
    runId,
    profile,
    trigger: "http",
    status: "succeeded",
    correlationId: "5f0c1a52-8d3e-4b7a-9c1e-2f4d6b8a0c1e",
    query: { filter: null, groupby: null, aggregationLevel: null },
    formats: ["csv"],
    queuedAt,
    updatedAt: queuedAt,
    attempts: 1,
  };
}

beforeAll(async () => {
  fixture = await startExportFixture({ rows: 10, env: { EXPORT_PROFILES: JSON.stringify(PROFILES) } });
  const id = `${process.pid}-${Date.now().toString(36)}`;
  names = {
    runsContainer: `runs-page-${id}`,
    locksContainer: `locks-page-${id}`,
    jobQueue: `jobs-page-${id}`,
  };
  app = createApp(loadSettings(fixture.env), {
    partnerCenterCredential: fixtureCredential,
    logger: fixture.services.logger,
    ...names,
  });
  await app.ensureStorage();
  // 8 runs of won-deals and 4 of everything, interleaved, one minute apart.
  const start = Date.parse("2026-11-20T08:00:00Z");
  for (let i = 0; i < 12; i++) {
    const at = new Date(start + i * 60_000);
    const stamp = at
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d{3}Z$/, "Z");
    const runId = `${stamp}-run${String(i).padStart(3, "0")}`;
    const profile = i % 3 === 2 ? "everything" : "won-deals";
    await app.store.create(record(runId, profile, at.toISOString()));
    (profile === "everything" ? everything : wonDeals).unshift(runId);
  }
});

afterAll(async () => {
  await app.jobs.queue.deleteIfExists();
  await app.jobs.poisonQueue.deleteIfExists();
  await app.runsContainer.deleteIfExists();
  await app.locksContainer.deleteIfExists();
  await fixture.close();
});

async function walk(options: { profile?: string; limit: number }): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let token: string | undefined;
  for (let pages = 1; pages <= MAX_PAGES; pages++) {
    const page = await app.runs.listPage({
      ...options,
      ...(token !== undefined ? { continuationToken: token } : {}),
    });
    expect(page.runs.length).toBeLessThanOrEqual(options.limit);
    ids.push(...page.runs.map((r) => r.runId));
    token = page.continuationToken;
    if (token === undefined) return { ids, pages };
  }
  throw new Error(`more than ${MAX_PAGES} pages`);
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { interactive: false, out: (l) => out.push(l), err: (l) => err.push(l) };
  const code = await runCli(argv, fixture.env, io, {
    openApp: (settings, logger) =>
      createApp(settings, { partnerCenterCredential: fixtureCredential, logger, ...names }),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

async function refusal(promise: Promise<unknown>): Promise<InvalidContinuationTokenError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isInvalidContinuationTokenError(error))
    throw new Error(`expected a refused token, got ${String(error)}`);
  return error;
}

describe("RunService.listPage", () => {
  it("walks every run of a profile exactly once, newest first, across several pages", async () => {
    const { ids, pages } = await walk({ profile: "won-deals", limit: 3 });
    expect(ids).toEqual(wonDeals);
    expect(new Set(ids).size).toBe(8);
    expect(pages).toBe(3);
  });

  it("walks every run of every profile once when no profile is named", async () => {
    const { ids } = await walk({ limit: 5 });
    expect(ids).toEqual([...wonDeals, ...everything].sort().reverse());
  });

  it("a listing that fits one page has no token; `list` still returns the newest runs", async () => {
    const page = await app.runs.listPage({ profile: "everything", limit: 10 });
    expect(page.runs.map((r) => r.runId)).toEqual(everything);
    expect(page.continuationToken).toBeUndefined();
    expect((await app.runs.list({ profile: "won-deals", limit: 2 })).map((r) => r.runId)).toEqual(
      wonDeals.slice(0, 2),
    );
  });

  it("a token changed after it was issued is refused with a clear message", async () => {
    const first = await app.runs.listPage({ profile: "won-deals", limit: 3 });
    const token = first.continuationToken ?? "";
    const [version, scope, marker, sum] = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as [
      number,
      string,
      string,
      string,
    ];
    const edited = Buffer.from(JSON.stringify([version, scope, `${marker}0`, sum])).toString("base64url");
    const error = await refusal(app.runs.listPage({ profile: "won-deals", continuationToken: edited }));
    expect(error.reason).toBe("tampered");
    expect(error.message).toBe(
      "the continuation token is not valid: it was changed after it was issued; start the listing again without it",
    );

    const garbage = await refusal(
      app.runs.listPage({ profile: "won-deals", continuationToken: "not a token" }),
    );
    expect(garbage.reason).toBe("malformed");
    expect(garbage.message).toMatch(
      /^the continuation token is not valid: it is not a token this service issued/,
    );
    const cut = await refusal(
      app.runs.listPage({ profile: "won-deals", continuationToken: token.slice(0, -4) }),
    );
    expect(cut.reason).toMatch(/^(malformed|tampered)$/);
  });

  it("a token cannot list outside the requested profile", async () => {
    const ofWonDeals = (await app.runs.listPage({ profile: "won-deals", limit: 2 })).continuationToken ?? "";
    const other = await refusal(app.runs.listPage({ profile: "everything", continuationToken: ofWonDeals }));
    expect(other.reason).toBe("other_listing");
    expect(other.message).toContain(
      "not valid here: it continues another listing than the runs of profile 'everything'",
    );
    const ofAll = (await app.runs.listPage({ limit: 2 })).continuationToken ?? "";
    expect(
      (await refusal(app.runs.listPage({ profile: "won-deals", continuationToken: ofAll }))).reason,
    ).toBe("other_listing");

    // Even a token forged with a valid checksum, carrying another prefix's marker, lists only the
    // requested profile: the prefix comes from the request.
    const forged = encodeContinuationToken("profile:won-deals", "index/profiles/everything/");
    const page = await app.runs.listPage({ profile: "won-deals", limit: 50, continuationToken: forged });
    expect(page.runs.map((r) => r.runId)).toEqual(wonDeals);
  });
});

describe("runs list --continuation", () => {
  it("prints the next page's command, which lists the rest of the profile's runs", async () => {
    const seen: string[] = [];
    let args = ["runs", "list", "--profile", "won-deals", "--limit", "3"];
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const result = await cli(args);
      expect(result.code).toBe(0);
      seen.push(...wonDeals.filter((id) => result.out.includes(id)));
      const next =
        /^More runs: referrals-export (runs list --profile won-deals --limit 3 --continuation (\S+))$/m.exec(
          result.out,
        );
      if (!next) break;
      args = (next[1] ?? "").split(" ");
    }
    expect(seen).toEqual(wonDeals);
  });

  it("--json keeps stdout one JSON array and names the next page on stderr", async () => {
    const result = await cli(["runs", "list", "--profile", "won-deals", "--limit", "5", "--json"]);
    expect(result.code).toBe(0);
    const runs = JSON.parse(result.out) as { runId: string }[];
    expect(runs.map((r) => r.runId)).toEqual(wonDeals.slice(0, 5));
    const token = /--continuation (\S+)$/m.exec(result.err)?.[1] ?? "";
    const rest = await cli(["runs", "list", "--profile", "won-deals", "--json", "--continuation", token]);
    expect((JSON.parse(rest.out) as { runId: string }[]).map((r) => r.runId)).toEqual(wonDeals.slice(5));
    expect(rest.err).not.toContain("--continuation");
  });

  it("a tampered token is a usage error naming the flag: exit 2", async () => {
    const result = await cli(["runs", "list", "--continuation", "WzEsIioiLCJ4IiwieCJd"]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(
      "--continuation: the continuation token is not valid: it was changed after it was issued; start the listing again without it",
    );
  });
});
