import { readFileSync } from "node:fs";

/**
 * The product's version, from the package.json two folders up: the package root both from
 * dist/cli/ (installed or built) and from src/cli/ (tests run the sources).
 */
export function productVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: unknown;
    };
    return typeof manifest.version === "string" ? manifest.version : "unknown";
  } catch {
    return "unknown";
  }
}
