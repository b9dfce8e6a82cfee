import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { EXPORTER_NODE_OPTIONS } from "../../src/config/nodeOptions.js";

/** The npm scripts that start the product's own processes run them with the product's V8 options. */
describe("V8 options of the product's processes", () => {
  it("are on every npm script that starts the CLI, the demo or the dev host", async () => {
    const pkg = JSON.parse(await readFile("package.json", "utf8")) as { scripts: Record<string, string> };
    for (const name of ["demo", "cli", "dev"]) {
      let script = pkg.scripts[name] ?? "";
      // A script that hands over to a shell script in scripts/ is judged by that file.
      for (const [, file] of script.matchAll(/\bbash (scripts\/\S+\.sh)/g))
        if (file !== "scripts/node22.sh") script += `\n${await readFile(file ?? "", "utf8")}`;
      const starts = [...script.matchAll(/\bnode ((?:--\S+ )*)"?(?:\$root\/)?dist\//g)];
      expect(starts.length, `${name} starts node on dist/`).toBeGreaterThan(0);
      for (const start of starts) expect(start[1]?.trim(), name).toBe(EXPORTER_NODE_OPTIONS);
    }
  });

  it("size the young generation only, never the old space (no cap on what a run may hold)", () => {
    expect(EXPORTER_NODE_OPTIONS).toMatch(/^--max-semi-space-size=\d+$/);
  });
});
