import type { Settings } from "../config/settings.js";
import { createServices, type Services } from "../wiring/services.js";

/** Services for CLI commands. */
export function openServices(settings: Settings): Services {
  return createServices(settings);
}
