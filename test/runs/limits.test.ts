import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app/app.js";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";
import { loadSettings } from "../../src/config/settings.js";
import { resolveExportRequest, type ExportRequestInput } from "../../src/runs/exportRequest.js";
import type { SubmitOutcome } from "../../src/runs/runService.js";
import { fixtureCredential, startExportFixture, type ExportFixture } from "../support/exportFixture.js";

/**
 * Run limits: at most MAX_ACTIVE_RUNS_PER_PROFILE runs of a profile queued or running, at most
 * MAX_ADHOC_RUNS_PER_HOUR ad-hoc runs accepted in any rolling hour, whoever asks and however many
 * ask at once.
 */

const PROFILES = [
  { name: "won-deals", filter: "status eq 'Won'", formats: ["csv"] },
  { name: "everything", formats: ["csv"] },
];
const MINUTE = 60_000;

let fixture: ExportFixture;
let counter = 0;
const apps: App[] = [];

class Clock {
  constructor(public ms: number) {}
  readonly now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Storage names of their own, so each test's runs, slots and queue start empty. */
function storageNames(): { runsContainer: string; locksContainer: string; jobQueue: string } {
  const id = `${process.pid}-${++counter}-${Date.now().toString(36)}`;
  return { runsContainer: `runs-lim-${id}`, locksContainer: `locks-lim-${id}`, jobQueue: `jobs-lim-${id}` };
}

async function openApp(
  limits: { active?: number; adhoc?: number },
  options: { now?: () => Date; names?: ReturnType<typeof storageNames> } = {},
): Promise<App> {
  const app = createApp(loadSettings(envWith(limits)), {
    partnerCenterCredential: fixtureCredential,
    logger: fixture.services.logger,
    ...(options.names ?? storageNames()),
    ...(options.now ? { now: options.now } : {}),
  });
  await app.ensureStorage();
  apps.push(app);
  return app;
}

function envWith(limits: { active?: number; adhoc?: number }): Record<string, string> {
  return {
    ...fixture.env,
    ...(limits.active !== undefined ? { MAX_ACTIVE_RUNS_PER_PROFILE: String(limits.active) } : {}),
    ...(limits.adhoc !== undefined ? { MAX_ADHOC_RUNS_PER_HOUR: String(limits.adhoc) } : {}),
  };
}

function submit(app: App, input: ExportRequestInput, force = false): Promise<SubmitOutcome> {
  const resolved = resolveExportRequest(input, app.settings.profiles);
  if (!resolved.ok) throw new Error(JSON.stringify(resolved.errors));
  return app.runs.submit(resolved.value, { trigger: "http", force });
}

async function queuedJobs(app: App): Promise<number> {
  return (await app.jobs.queue.getProperties()).approximateMessagesCount ?? -1;
}

function kinds(outcomes: readonly SubmitOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[o.kind] = (out[o.kind] ?? 0) + 1;
  return out;
}

beforeAll(async () => {
  fixture = await startExportFixture({ rows: 40, env: { EXPORT_PROFILES: JSON.stringify(PROFILES) } });
});

afterAll(async () => {
  for (const app of apps) {
    await app.jobs.queue.deleteIfExists();
    await app.jobs.poisonQueue.deleteIfExists();
    await app.runsContainer.deleteIfExists();
    await app.locksContainer.deleteIfExists();
  }
  await fixture.close();
});

describe("active runs per profile", () => {
  it("20 forced submits at once with a cap of 3: exactly 3 queued, the other 17 refused with the limit, the count and the setting", async () => {
    const app = await openApp({ active: 3 });
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => submit(app, { profile: "won-deals" }, true)),
    );
    expect(kinds(outcomes)).toEqual({ accepted: 3, limited: 17 });
    for (const o of outcomes) {
      if (o.kind !== "limited") continue;
      expect(o.limit).toBe("active_runs");
      expect(o.retryAfterSeconds).toBeGreaterThan(0);
      expect(o.message).toBe(
        "profile 'won-deals' already has 3 runs queued or running (MAX_ACTIVE_RUNS_PER_PROFILE=3); try again when one ends",
      );
    }
    // Nothing of a refused request was recorded or queued.
    expect(await app.runs.list({ profile: "won-deals", limit: 50 })).toHaveLength(3);
    expect(await queuedJobs(app)).toBe(3);
    // The cap is per profile: another profile is not held up.
    expect((await submit(app, { profile: "everything" }, true)).kind).toBe("accepted");
    // Without force, a profile with a run in progress is a conflict, as before.
    const conflict = await submit(app, { profile: "won-deals" });
    expect(conflict.kind).toBe("conflict");
    expect(fixture.referralsRequests()).toHaveLength(0);
  });

  it("a run that ends or goes stale frees its place: the next forced run is accepted, and the cap holds again", async () => {
    const clock = new Clock(Date.parse("2026-11-24T09:00:00Z"));
    const app = await openApp({ active: 2 }, { now: clock.now });
    const first = await submit(app, { profile: "won-deals" }, true);
    const second = await submit(app, { profile: "won-deals" }, true);
    expect([first.kind, second.kind]).toEqual(["accepted", "accepted"]);
    expect((await submit(app, { profile: "won-deals" }, true)).kind).toBe("limited");

    if (first.kind !== "accepted") throw new Error("unreachable");
    await app.runs.markFailed(first.run.runId, { reason: "internal", message: "ended for the test" });
    const third = await submit(app, { profile: "won-deals" }, true);
    expect(third.kind).toBe("accepted");
    const fourth = await submit(app, { profile: "won-deals" }, true);
    expect(fourth).toMatchObject({ kind: "limited", limit: "active_runs" });

    // Queued runs nobody touched for an hour have lost their jobs: they no longer count.
    clock.advance(61 * MINUTE);
    const outcomes = await Promise.all([1, 2, 3].map(() => submit(app, { profile: "won-deals" }, true)));
    expect(kinds(outcomes)).toEqual({ accepted: 2, limited: 1 });
  });
});

describe("ad-hoc runs per rolling hour", () => {
  it("counts ad-hoc runs across the app in a window that slides; profile runs are not counted", async () => {
    const clock = new Clock(Date.parse("2026-11-24T10:00:00Z"));
    const app = await openApp({ adhoc: 2 }, { now: clock.now });
    expect((await submit(app, { name: "adhoc-a", filter: "status eq 'Lost'" })).kind).toBe("accepted");
    clock.advance(10 * MINUTE);
    expect((await submit(app, { name: "adhoc-b" })).kind).toBe("accepted");
    clock.advance(10 * MINUTE);

    const refused = await submit(app, { name: "adhoc-c" });
    expect(refused).toEqual({
      kind: "limited",
      limit: "adhoc_per_hour",
      // The run of 10:00 leaves the window at 11:00, 40 minutes from now.
      retryAfterSeconds: 40 * 60,
      message:
        "2 ad-hoc exports were accepted in the last 60 minutes (MAX_ADHOC_RUNS_PER_HOUR=2); the next can be accepted in 40 min, or raise MAX_ADHOC_RUNS_PER_HOUR",
    });
    expect(await app.runs.list({ profile: "adhoc-c" })).toHaveLength(0);
    expect((await submit(app, { profile: "won-deals" })).kind).toBe("accepted");

    // 11:01: the 10:00 run has left the window, the 10:10 one has not.
    clock.advance(41 * MINUTE);
    expect((await submit(app, { name: "adhoc-c" })).kind).toBe("accepted");
    const again = await submit(app, { name: "adhoc-d" });
    expect(again).toMatchObject({ kind: "limited", limit: "adhoc_per_hour", retryAfterSeconds: 9 * 60 });
    clock.advance(9 * MINUTE - 1000);
    expect(await submit(app, { name: "adhoc-d" })).toMatchObject({ kind: "limited", retryAfterSeconds: 1 });
    clock.advance(1000);
    expect((await submit(app, { name: "adhoc-d" })).kind).toBe("accepted");
  });

  it("holds under concurrency: 12 ad-hoc submits at once with a cap of 4 accept exactly 4", async () => {
    const app = await openApp({ adhoc: 4 });
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) => submit(app, { name: `burst-${i}` })),
    );
    expect(kinds(outcomes)).toEqual({ accepted: 4, limited: 8 });
    for (const o of outcomes)
      if (o.kind === "limited") {
        expect(o.limit).toBe("adhoc_per_hour");
        expect(o.retryAfterSeconds).toBeGreaterThan(3500);
      }
    expect(await queuedJobs(app)).toBe(4);
  });

  it("forced ad-hoc runs of one name meet both limits: the name's active cap first", async () => {
    const app = await openApp({ active: 3, adhoc: 12 });
    const outcomes = await Promise.all(Array.from({ length: 40 }, () => submit(app, {}, true)));
    expect(kinds(outcomes)).toEqual({ accepted: 3, limited: 37 });
    const refusal = outcomes.find((o) => o.kind === "limited");
    expect(refusal?.message).toContain("ad-hoc export 'adhoc' already has 3 runs queued or running");
    // Refused requests used up none of the hour's ad-hoc runs: 9 more names are accepted.
    const more = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(app, { name: `more-${i}` })));
    expect(kinds(more)).toEqual({ accepted: 9, limited: 1 });
  });

  it("MAX_ADHOC_RUNS_PER_HOUR=0 refuses every ad-hoc run, saying so; profiles still run", async () => {
    const app = await openApp({ adhoc: 0 });
    const refused = await submit(app, { name: "lost-deals", filter: "status eq 'Lost'" }, true);
    expect(refused).toMatchObject({ kind: "limited", limit: "adhoc_per_hour" });
    if (refused.kind !== "limited") throw new Error("unreachable");
    expect(refused.message).toBe(
      "ad-hoc exports are turned off (MAX_ADHOC_RUNS_PER_HOUR=0); run a configured profile, or set MAX_ADHOC_RUNS_PER_HOUR above 0 to allow them",
    );
    expect(refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(await app.runs.list({ profile: "lost-deals" })).toHaveLength(0);
    expect((await submit(app, { profile: "everything" })).kind).toBe("accepted");
  });
});

describe("the CLI follows the same limits", () => {
  async function cli(
    argv: string[],
    limits: { adhoc?: number },
    names: ReturnType<typeof storageNames>,
  ): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { interactive: false, out: (l) => out.push(l), err: (l) => err.push(l) };
    const env = envWith(limits);
    const code = await runCli(argv, env, io, {
      openApp: (settings, logger) => {
        const app = createApp(settings, { partnerCenterCredential: fixtureCredential, logger, ...names });
        apps.push(app);
        return app;
      },
    });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  it("an ad-hoc export beyond the hour's limit exits 1 with the limit's message, sending nothing", async () => {
    const names = storageNames();
    const first = await cli(
      ["export", "--name", "cli-lost", "--filter", "status eq 'Lost'"],
      { adhoc: 1 },
      names,
    );
    expect(first.code).toBe(0);
    const sent = fixture.referralsRequests().length;
    expect(sent).toBeGreaterThan(0);

    const second = await cli(
      ["export", "--name", "cli-won", "--filter", "status eq 'Won'"],
      { adhoc: 1 },
      names,
    );
    expect(second.code).toBe(1);
    expect(second.err).toMatch(
      /Export refused: 1 ad-hoc export was accepted in the last 60 minutes \(MAX_ADHOC_RUNS_PER_HOUR=1\); the next can be accepted in \d+ min, or raise MAX_ADHOC_RUNS_PER_HOUR\./,
    );
    expect(fixture.referralsRequests()).toHaveLength(sent);

    // A profile is not an ad-hoc export: it still runs.
    const profile = await cli(["export", "--profile", "everything"], { adhoc: 1 }, names);
    expect(profile.code).toBe(0);
  });

  it("with ad-hoc exports turned off, says so and exits 1; nothing is recorded", async () => {
    const names = storageNames();
    const result = await cli(["export", "--filter", "status eq 'Won'"], { adhoc: 0 }, names);
    expect(result.code).toBe(1);
    expect(result.err).toContain("ad-hoc exports are turned off (MAX_ADHOC_RUNS_PER_HOUR=0)");
    const listed = await cli(["runs", "list", "--json"], { adhoc: 0 }, names);
    expect(JSON.parse(listed.out)).toEqual([]);
  });
});
