import type { CliIo } from "./io.js";
import { UsageError } from "./io.js";

export const SIMULATE_HELP = `Usage: referrals-export simulate [--port P] [--rows N] [--seed S] [--latency-ms L] [--faults SPEC]`;

export function simulateCommand(_args: readonly string[], _io: CliIo): Promise<number> {
  return Promise.reject(new UsageError("simulate is not available in this build"));
}
