import { authOptionsFromSettings } from "../app/authOptions.js";
import { requireAuthSettings } from "../config/settings.js";
import { authLogin, authStatus, type LoginMode } from "./authCommands.js";
import { loadCommandSettings, type CommandContext } from "./commandSettings.js";
import { UsageError, parseCliArgs, printable } from "./io.js";
import { checkStorage } from "./storageCheck.js";

/** `auth login` and `auth status`: arguments first, then every setting, then storage, then Entra ID. */
export async function authCommand(args: readonly string[], ctx: CommandContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "login" && sub !== "status")
    throw new UsageError(
      `unknown auth command '${printable((sub ?? "").slice(0, 40))}' (try: auth login, auth status)`,
    );
  const request = sub === "login" ? { login: loginMode(rest) } : { status: statusOptions(rest) };
  const settings = loadCommandSettings(ctx.env, { signIn: true });
  requireAuthSettings(settings);
  const app = await ctx.open(settings);
  await checkStorage(app, { queue: false });
  await app.locksContainer.createIfNotExists();
  const options = authOptionsFromSettings(settings, app.locksContainer, app.logger);
  if (request.status) return authStatus(options, ctx.io, request.status);
  return authLogin(options, request.login, ctx.io);
}

function loginMode(args: readonly string[]): LoginMode {
  const { values } = parseCliArgs({
    args: [...args],
    options: {
      "device-code": { type: "boolean" },
      "auth-code": { type: "boolean" },
      port: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values["device-code"] && values["auth-code"])
    throw new UsageError("choose one of --device-code and --auth-code");
  if (values.port !== undefined && !values["auth-code"]) throw new UsageError("--port goes with --auth-code");
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d{1,5}$/.test(values.port) || port < 1 || port > 65_535)
      throw new UsageError("--port must be a TCP port (1-65535)");
  }
  return values["auth-code"]
    ? { kind: "auth-code", ...(port !== undefined ? { port } : {}) }
    : { kind: "device-code" };
}

function statusOptions(args: readonly string[]): { readonly json: boolean } {
  const { values } = parseCliArgs({
    args: [...args],
    options: { json: { type: "boolean", default: false } },
    strict: true,
    allowPositionals: false,
  });
  return { json: values.json };
}
