#!/usr/bin/env node
import { pathToFileURL } from "node:url";
import { realpathSync } from "node:fs";
import { loadSettings, SettingsError, type Settings } from "../config/settings.js";
import { createApp, type App } from "../app/app.js";
import { exportCommand, planExport, EXPORT_HELP } from "./exportCommand.js";
import { EXIT, UsageError, printable, processIo, type CliIo } from "./io.js";
import { simulateCommand, SIMULATE_HELP } from "./simulateCommand.js";
import { runsCommand, RUNS_HELP } from "./runsCommand.js";
import { authCommand, AUTH_HELP } from "./authCommand.js";

export const HELP = `referrals-export — exports Partner Center referrals analytics to Azure Blob Storage

Usage: referrals-export <command> [options]

Commands:
  export       run one export now (by profile or ad hoc) and publish it
  runs list    list recent runs of a profile
  auth login   consent once (device code or browser); stores the sign-in in Key Vault
  auth status  show the stored sign-in and whether a token can be obtained now
  simulate     serve the local Partner Center + Entra ID + Key Vault simulator

Settings come from environment variables (see README). Exit codes: 0 ok, 1 export failed,
2 bad usage or settings, 3 consent needed (run auth login).

${EXPORT_HELP}

${RUNS_HELP}

${AUTH_HELP}

${SIMULATE_HELP}`;

export interface CliDeps {
  /** Builds the app from settings (tests inject their own credential). */
  readonly openApp?: (settings: Settings) => App;
}

/** Runs the CLI and returns its exit code; `env` and `io` are injectable for tests. */
export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  io: CliIo = processIo,
  deps: CliDeps = {},
): Promise<number> {
  const open = deps.openApp ?? ((settings: Settings) => createApp(settings));
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.out(HELP);
        return command === undefined ? EXIT.usage : EXIT.ok;
      case "export": {
        if (rest.includes("--help")) return help(io, EXPORT_HELP);
        const settings = loadSettings(env);
        const plan = planExport(rest, settings.profiles);
        return await exportCommand(plan, open(settings), io);
      }
      case "runs":
        if (rest.includes("--help")) return help(io, RUNS_HELP);
        return await runsCommand(rest, env, io, open);
      case "auth":
        if (rest.includes("--help")) return help(io, AUTH_HELP);
        return await authCommand(rest, env, io, open);
      case "simulate":
        if (rest.includes("--help")) return help(io, SIMULATE_HELP);
        return await simulateCommand(rest, io);
      default:
        throw new UsageError(
          `unknown command '${command.slice(0, 40)}' (try: export, runs list, auth login, auth status, simulate)`,
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`referrals-export: ${printable(error.message)}`);
      io.err("Run 'referrals-export --help' for usage.");
      return EXIT.usage;
    }
    if (error instanceof SettingsError) {
      // One line per problem; a value with a line break inside cannot add a line of its own.
      io.err(
        `referrals-export: Invalid settings:\n${error.problems.map((p) => `  - ${printable(p)}`).join("\n")}`,
      );
      return EXIT.usage;
    }
    io.err(`referrals-export: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failed;
  }
}

function help(io: CliIo, text: string): number {
  io.out(text);
  return EXIT.ok;
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  process.exitCode = await runCli(process.argv.slice(2));
}
