import type { CliIo } from "./io.js";
import { UsageError } from "./io.js";

export const AUTH_HELP = `Usage: referrals-export auth login [--device-code | --auth-code [--port P]]
       referrals-export auth status`;

export function authCommand(_args: readonly string[], _env: Readonly<Record<string, string | undefined>>, _io: CliIo): Promise<number> {
  return Promise.reject(new UsageError("auth commands are not available in this build"));
}
