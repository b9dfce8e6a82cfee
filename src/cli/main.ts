#!/usr/bin/env node
import { pathToFileURL } from "node:url";
import { realpathSync } from "node:fs";
import type { TokenCredential } from "@azure/core-auth";
import type { App } from "../app/app.js";
import { isSettingsError, type Settings } from "../config/settings.js";
import { createLogger, type Logger } from "../logging/logger.js";
import { loadCommandSettings, type CommandContext, type Env } from "./commandSettings.js";
import { helpFor, overviewHelp } from "./help.js";
import {
  EXIT,
  UsageError,
  isSetupError,
  isUsageError,
  printable,
  processIo,
  safeIo,
  wantsHelp,
  type CliIo,
} from "./io.js";
import { productVersion } from "./version.js";

export interface CliDeps {
  /** Builds the app from settings and the CLI's logger (tests inject their own credential or logger). */
  readonly openApp?: (settings: Settings, logger: Logger) => App;
  /** The identity `remote` commands sign in to the HTTP API with (default: DefaultAzureCredential). */
  readonly apiCredential?: TokenCredential;
  /** What `remote` commands call the HTTP API with (default: the global fetch). */
  readonly fetch?: typeof fetch;
}

/**
 * Runs the CLI and returns its exit code; `env` and `io` are injectable for tests. Arguments are
 * checked first, then every setting at once, then storage, and only then is anything sent. The
 * commands are loaded when run, so help and version answer without loading the Azure libraries.
 */
export async function runCli(
  argv: readonly string[],
  env: Env = process.env,
  rawIo: CliIo = processIo,
  deps: CliDeps = {},
): Promise<number> {
  const io = safeIo(rawIo);
  const [command, ...rest] = argv;
  const ctx: CommandContext = {
    env,
    io,
    // Log lines go to stderr, whatever their level: stdout holds only a command's result (--json).
    open: (settings) =>
      openApp(
        settings,
        createLogger(settings.logLevel, (line) => {
          io.err(line);
        }),
        deps,
      ),
  };
  try {
    switch (command) {
      case undefined:
        io.err(overviewHelp());
        return EXIT.usage;
      case "help":
        io.out(helpFor(rest));
        return EXIT.ok;
      case "--help":
      case "-h":
        io.out(overviewHelp());
        return EXIT.ok;
      case "--version":
      case "-V":
        io.out(productVersion());
        return EXIT.ok;
      case "export":
        if (wantsHelp(rest)) return help(io, ["export"]);
        return await exportDoor(rest, ctx);
      case "runs":
        if (wantsHelp(rest)) return help(io, ["runs"]);
        return await (await import("./runsCommand.js")).runsCommand(rest, ctx);
      case "auth":
        if (wantsHelp(rest)) return help(io, ["auth", ...rest.slice(0, 1)]);
        return await (await import("./authCommand.js")).authCommand(rest, ctx);
      case "simulate":
        if (wantsHelp(rest)) return help(io, ["simulate"]);
        return await (await import("./simulateCommand.js")).simulateCommand(rest, io);
      case "remote":
        if (wantsHelp(rest)) return help(io, ["remote"]);
        return await (
          await import("./remoteCommand.js")
        ).remoteCommand(rest, {
          env,
          io,
          // Read links and continuation tokens the user asked for; the command redacts everything else.
          rawOut: (line) => {
            rawIo.out(line);
          },
          ...(deps.apiCredential ? { credential: deps.apiCredential } : {}),
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        });
      default:
        throw new UsageError(
          `unknown command '${printable(command.slice(0, 40))}' (try: export, runs list, auth login, auth status, simulate, remote export)`,
        );
    }
  } catch (error) {
    if (isUsageError(error)) {
      io.err(`referrals-export: ${error.message}`);
      io.err(`Run '${helpCommand(command, rest)}' for usage.`);
      return EXIT.usage;
    }
    if (isSettingsError(error)) {
      // One line per problem; a value with a line break inside cannot add a line of its own.
      io.err(
        `referrals-export: Invalid settings:\n${error.problems.map((p) => `  - ${printable(p)}`).join("\n")}`,
      );
      return EXIT.usage;
    }
    if (isSetupError(error)) {
      io.err(`referrals-export: ${error.message}`);
      return EXIT.usage;
    }
    io.err(`referrals-export: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failed;
  }
}

/** `export`: arguments, settings, the request against the profiles, storage, then the run. */
async function exportDoor(args: readonly string[], ctx: CommandContext): Promise<number> {
  const { exportCommand, parseExportArgs, planExport } = await import("./exportCommand.js");
  const parsed = parseExportArgs(args);
  const settings = loadCommandSettings(ctx.env, { signIn: true });
  const plan = planExport(parsed, settings.profiles);
  const app = await ctx.open(settings);
  // The delegated credential is built now, so missing sign-in settings stop the command here.
  app.partnerCenterCredential();
  const { checkStorage } = await import("./storageCheck.js");
  await checkStorage(app, { queue: true });
  return exportCommand(plan, app, ctx.io);
}

async function openApp(settings: Settings, logger: Logger, deps: CliDeps): Promise<App> {
  if (deps.openApp) return deps.openApp(settings, logger);
  const { createApp } = await import("../app/app.js");
  return createApp(settings, { logger });
}

function help(io: CliIo, topic: readonly string[]): number {
  io.out(helpFor(topic));
  return EXIT.ok;
}

/** Where a usage error points: the command's own help when the command is known. */
function helpCommand(command: string | undefined, rest: readonly string[]): string {
  if (command === "export" || command === "runs" || command === "simulate" || command === "remote")
    return `referrals-export help ${command}`;
  if (command === "auth" && (rest[0] === "login" || rest[0] === "status"))
    return `referrals-export help auth ${rest[0]}`;
  return "referrals-export --help";
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  // A reader that stops early (`| head`) ends the output quietly, not with an EPIPE stack trace.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
  process.exitCode = await runCli(process.argv.slice(2));
}
