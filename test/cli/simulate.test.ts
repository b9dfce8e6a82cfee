import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { safeIo } from "../../src/cli/io.js";
import { simulateCommand } from "../../src/cli/simulateCommand.js";
import { captureIo, cli } from "./cliHarness.js";

/**
 * `simulate` prints settings that work as pasted: the exporter signs in, exports and lists its runs
 * with exactly those settings. It starts Azurite on Azurite's own ports (10000, 10001), which this
 * file therefore needs free.
 */

const READY = "# Stop with Ctrl-C.";

interface Simulation {
  readonly lines: string[];
  readonly done: Promise<number>;
  stop(): Promise<number>;
}

let running: Simulation | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** Starts `simulate ARGS` as the CLI runs it (through the redacting io) and waits for its settings. */
async function simulate(args: string[]): Promise<Simulation> {
  const io = captureIo();
  const abort = new AbortController();
  const done = simulateCommand(args, safeIo(io), abort.signal);
  const simulation: Simulation = {
    lines: io.outLines,
    done,
    stop: () => {
      abort.abort();
      return done;
    },
  };
  running = simulation;
  for (let waited = 0; !io.outLines.includes(READY); waited += 100) {
    if (waited > 60_000) throw new Error(`simulate did not print its settings: ${io.outLines.join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return simulation;
}

/** What bash makes of the `export NAME='value'` lines (every other line is a comment). */
function pasted(lines: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of lines) {
    if (line.startsWith("#")) continue;
    const match = /^export ([A-Z_]+)='((?:[^']|'\\'')*)'$/.exec(line);
    expect(match, `not a pasteable setting: ${line}`).not.toBeNull();
    env[match![1]!] = match![2]!.replaceAll("'\\''", "'");
  }
  return env;
}

async function portIsFree(port: number): Promise<boolean> {
  const server: Server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => {
      resolve(false);
    });
    server.listen(port, "127.0.0.1", () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

describe("simulate", () => {
  it("starts Azurite and prints a complete set of settings: sign-in, export and runs list work with them", async () => {
    const sim = await simulate(["--rows", "40", "--seed", "5"]);
    const env = pasted(sim.lines);
    expect(env.EXPORT_STORAGE_CONNECTION_STRING).toBe("UseDevelopmentStorage=true");
    for (const name of [
      "PARTNER_CENTER_BASE_URL",
      "AZURE_TENANT_ID",
      "PARTNER_CENTER_CLIENT_ID",
      "KEY_VAULT_URL",
    ])
      expect(env[name], name).toBeTruthy();
    expect(sim.lines.join("\n")).not.toContain("[redacted]");

    // Key Vault's credential reads AZURE_* from the process environment, as after pasting into a shell.
    for (const key of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST"])
      process.env[key] = env[key];
    const login = await cli(["auth", "login", "--device-code"], env);
    expect(login.code).toBe(0);
    const exported = await cli(["export", "--profile", "all-referrals", "--json"], env);
    expect(exported.code).toBe(0);
    expect((JSON.parse(exported.out) as { rowCount: number }).rowCount).toBe(40);
    const runs = await cli(["runs", "list", "--json"], env);
    expect(runs.code).toBe(0);
    expect((JSON.parse(runs.out) as { status: string }[]).map((r) => r.status)).toEqual(["succeeded"]);

    expect(await sim.stop()).toBe(0);
    running = undefined;
    // Azurite stopped with the simulator.
    expect(await portIsFree(10_000)).toBe(true);
  });

  it("--no-storage starts no Azurite and prints how to start it, with the matching setting", async () => {
    const sim = await simulate(["--rows", "10", "--no-storage"]);
    const text = sim.lines.join("\n");
    expect(text).toMatch(
      /^# Storage: start Azurite in another terminal: npx azurite --inMemoryPersistence --skipApiVersionCheck --blobPort 10000 --queuePort 10001/m,
    );
    expect(pasted(sim.lines).EXPORT_STORAGE_CONNECTION_STRING).toBe("UseDevelopmentStorage=true");
    expect(await portIsFree(10_000)).toBe(true);
  });

  it("Azurite's port in use -> exit 2 saying so, before anything starts", async () => {
    const busy: Server = createServer();
    await new Promise<void>((done) => busy.listen(10_000, "127.0.0.1", done));
    try {
      const result = await cli(["simulate", "--rows", "10"]);
      expect(result.code).toBe(2);
      expect(result.err).toMatch(/Azurite's port 10000 on 127\.0\.0\.1 is in use/);
      expect(result.err).toContain("--no-storage");
      expect(result.out).toBe("");
    } finally {
      await new Promise<void>((done) => {
        busy.close(() => {
          done();
        });
      });
    }
  });
});
