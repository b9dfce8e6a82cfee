import { loadSettings, type Settings } from "../config/settings.js";
import { authOptionsFromSettings } from "../app/authOptions.js";
import { createApp, type App } from "../app/app.js";
import { authLogin, authStatus } from "./authCommands.js";
import { UsageError, type CliIo, parseCliArgs } from "./io.js";

export const AUTH_HELP = `Usage: referrals-export auth login [--device-code | --auth-code [--port P]]
       referrals-export auth status

auth login   a Partner Center admin consents once; the sign-in (MSAL token cache with its
             refresh token) is stored in the Key Vault secret TOKEN_CACHE_SECRET_NAME.
             --device-code (default) prints a code to enter at the Microsoft sign-in page, for
             headless machines; --auth-code opens a loopback redirect (http://localhost:P).
auth status  shows the account, tenant, cloud, when the sign-in was last refreshed and
             whether a token can be obtained now. Never prints a token. Exit 3: consent needed.`;

export async function authCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
  open: (settings: Settings) => App = (settings) => createApp(settings),
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "login" && sub !== "status")
    throw new UsageError(`unknown auth command '${(sub ?? "").slice(0, 40)}' (try: auth login, auth status)`);
  const { values } = parseCliArgs({
    args: rest,
    options:
      sub === "login"
        ? { "device-code": { type: "boolean" }, "auth-code": { type: "boolean" }, port: { type: "string" } }
        : {},
    strict: true,
    allowPositionals: false,
  });
  const settings = loadSettings(env);
  const app = open(settings);
  await app.locksContainer.createIfNotExists();
  const options = authOptionsFromSettings(settings, app.locksContainer, app.logger);
  if (sub === "status") return authStatus(options, io);
  const v = values as { "device-code"?: boolean; "auth-code"?: boolean; port?: string };
  if (v["device-code"] && v["auth-code"]) throw new UsageError("choose one of --device-code and --auth-code");
  if (v.port !== undefined && !v["auth-code"]) throw new UsageError("--port goes with --auth-code");
  let port: number | undefined;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65_535)
      throw new UsageError("--port must be a TCP port (1-65535)");
  }
  return authLogin(
    options,
    v["auth-code"] ? { kind: "auth-code", ...(port !== undefined ? { port } : {}) } : { kind: "device-code" },
    io,
  );
}
