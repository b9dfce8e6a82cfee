import { execFile } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire, isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { join, posix, resolve } from "node:path";
import { promisify } from "node:util";
import ignore from "ignore";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * What `azd deploy` (and `func azure functionapp publish`) upload: the project folder after
 * `npm run build`, filtered by .funcignore. The app is compiled here, as the build does, into a
 * temporary dist/ that stands in for the project's own (which may hold files of older builds).
 */
const PROJECT = resolve(".");
const TOOLS = ["cli", "devhost", "demo", "simulator"];
const TOP_LEVEL = ["dist", "host.json", "node_modules", "package.json"];

let build: string;
let rules: string;
let loaded: { modules: Set<string>; packages: Set<string> };
let candidates: string[];
let shipped: Set<string>;

beforeAll(async () => {
  build = await mkdtemp(join(tmpdir(), "referrals-export-package-"));
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  await promisify(execFile)(process.execPath, [
    tsc,
    "-p",
    "tsconfig.build.json",
    "--outDir",
    join(build, "dist"),
    "--noCheck",
  ]);
  const manifest = JSON.parse(readFileSync(join(PROJECT, "package.json"), "utf8")) as { main: string };
  loaded = loadedBy(posix.normalize(manifest.main));
  rules = readFileSync(join(PROJECT, ".funcignore"), "utf8");
  candidates = [
    ...new Set([
      ...listFiles(PROJECT, "", (path) => path === "dist" || path === "node_modules"),
      ...listFiles(join(build, "dist"), "dist"),
      ...nodeModulesCandidates(loaded.packages),
    ]),
  ];
  const matcher = ignore().add(rules);
  shipped = new Set(candidates.filter((path) => !matcher.ignores(path)));
}, 120_000);

afterAll(async () => {
  await rm(build, { recursive: true, force: true });
});

describe("the deployment package", () => {
  it("holds host.json, package.json, dist/ and node_modules/, and nothing else at its top", () => {
    expect(shipped).toContain("host.json");
    expect(shipped).toContain("package.json");
    const top = new Set([...shipped].map((path) => path.split("/")[0]));
    expect([...top].sort()).toEqual(TOP_LEVEL);
  });

  it("leaves out the sources, tests, benchmark and the local tools (CLI, dev host, demo, simulator)", () => {
    const leftOut = ["src/", "test/", "bench/", ...TOOLS.map((tool) => `dist/${tool}/`)];
    // The project does hold them, so an empty result means the rules left them out.
    for (const folder of leftOut) expect(candidates.some((path) => path.startsWith(folder))).toBe(true);
    expect([...shipped].filter((path) => leftOut.some((folder) => path.startsWith(folder)))).toEqual([]);
  });

  it("holds every module the Functions entry point loads, and none of them is a local tool", () => {
    const modules = [...loaded.modules];
    expect(modules).toContain("dist/export/formats/parquetWorker.js");
    expect(modules.filter((path) => !shipped.has(path))).toEqual([]);
    expect(modules.filter((path) => TOOLS.some((tool) => path.startsWith(`dist/${tool}/`)))).toEqual([]);
  });

  it("holds the production packages whole, and none of the dev tools", () => {
    const wrong = installedPackages()
      .filter(([path, info]) => shipped.has(`${path}/package.json`) === (info.dev === true))
      .map(([path, info]) => `${info.dev === true ? "ships the dev package" : "misses"} ${path}`);
    expect(wrong).toEqual([]);
    // Every file of the packages the app imports, not only their package.json.
    expect(loaded.packages).toContain("@azure/functions");
    for (const name of loaded.packages) {
      const files = candidates.filter((path) => path.startsWith(`node_modules/${name}/`));
      expect(files.length, name).toBeGreaterThan(1);
      expect(files.filter((path) => !shipped.has(path))).toEqual([]);
    }
    expect([...shipped].filter((path) => path.startsWith("node_modules/."))).toEqual([]);
  });

  it("is the same for Core Tools, which read .funcignore differently", () => {
    const accepts = coreToolsFilter(rules);
    expect(candidates.filter((path) => accepts(path) !== shipped.has(path))).toEqual([]);
  });
});

/** Files under `dir` as package paths (`prefix/...`, "/"-separated); symbolic links count as files. */
function listFiles(dir: string, prefix: string, skip: (path: string) => boolean = () => false): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = prefix === "" ? name : `${prefix}/${name}`;
    if (skip(path)) continue;
    if (lstatSync(join(dir, name)).isDirectory()) files.push(...listFiles(join(dir, name), path, skip));
    else files.push(path);
  }
  return files;
}

/**
 * node_modules/ is represented by its entries that are no package (.bin/, npm's hidden lockfile,
 * tool caches), every file of the packages in `whole`, and the package.json of every other
 * installed package.
 */
function nodeModulesCandidates(whole: Set<string>): string[] {
  const root = join(PROJECT, "node_modules");
  const files: string[] = [];
  for (const name of readdirSync(root)) {
    if (name.startsWith(".")) files.push(...listEntry(`node_modules/${name}`));
    else if (name.startsWith("@"))
      for (const pkg of readdirSync(join(root, name))) files.push(`node_modules/${name}/${pkg}/package.json`);
    else files.push(`node_modules/${name}/package.json`);
  }
  // The lockfile's list adds the packages nested in another package's node_modules/.
  for (const [path] of installedPackages()) files.push(`${path}/package.json`);
  for (const name of whole) files.push(...listEntry(`node_modules/${name}`));
  return files.filter((path) => existsSync(join(PROJECT, path)) || path.startsWith("node_modules/."));
}

/** The packages of package-lock.json that are installed here, with their "dev" flag. */
function installedPackages(): [string, { dev?: boolean }][] {
  const lock = JSON.parse(readFileSync(join(PROJECT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages).filter(
    ([path]) => path !== "" && existsSync(join(PROJECT, path, "package.json")),
  );
}

function listEntry(path: string): string[] {
  const full = join(PROJECT, path);
  return lstatSync(full).isDirectory() ? listFiles(full, path) : [path];
}

/**
 * The built modules `entry` loads, transitively: relative `import`, `export … from` and `import()`
 * specifiers, and files named by `new URL("./x.js", import.meta.url)` (worker threads). In
 * `new URL(import.meta.url.endsWith(".ts") ? "./x.ts" : "./x.js", …)` the ".ts" name is for
 * running from source and is left aside. Also the npm packages they import.
 */
function loadedBy(entry: string): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    if (modules.has(path)) continue;
    modules.add(path);
    const file = join(build, path);
    if (!path.endsWith(".js") || !existsSync(file)) continue;
    for (const specifier of referencesOf(
      ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest),
    )) {
      if (specifier.startsWith("./") || specifier.startsWith("../"))
        pending.push(posix.normalize(posix.join(posix.dirname(path), specifier)));
      else if (!isBuiltin(specifier)) packages.add(packageName(specifier));
    }
  }
  return { modules, packages };
}

/** "@scope/name/sub/path" -> "@scope/name", "name/sub/path" -> "name". */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return parts.slice(0, specifier.startsWith("@") ? 2 : 1).join("/");
}

function referencesOf(source: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    )
      found.push(node.moduleSpecifier.text);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [specifier] = node.arguments;
      if (specifier !== undefined && ts.isStringLiteral(specifier)) found.push(specifier.text);
    } else if (
      ts.isNewExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === "URL" &&
      node.arguments?.[1] !== undefined &&
      isImportMetaUrl(node.arguments[1])
    ) {
      const names: string[] = [];
      const collect = (part: ts.Node): void => {
        if (ts.isStringLiteral(part) && part.text.startsWith(".")) names.push(part.text);
        part.forEachChild(collect);
      };
      collect(node.arguments[0]!);
      found.push(...names.filter((name) => !name.endsWith(".ts")));
    }
    node.forEachChild(visit);
  };
  visit(source);
  return found;
}

function isImportMetaUrl(node: ts.Node): boolean {
  return (
    ts.isPropertyAccessExpression(node) &&
    ts.isMetaProperty(node.expression) &&
    node.expression.keywordToken === ts.SyntaxKind.ImportKeyword &&
    node.name.text === "url"
  );
}

/**
 * How Azure Functions Core Tools read .funcignore (GitIgnoreParser.cs, a port of the npm package
 * gitignore-parser): every rule becomes a regular expression matched at the start of a file's
 * path, and a file ships if any `!` rule matches it or no other rule does, whatever their order.
 * (Core Tools also always leave out .git/, .vscode/, .funcignore, .gitignore and
 * local.settings.json; the rules name them anyway, for azd.)
 */
function coreToolsFilter(rules: string): (path: string) => boolean {
  const lists: Record<"ignore" | "keep", string[]> = { ignore: [], keep: [] };
  for (const raw of rules.split("\n")) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const list = line.startsWith("!") ? lists.keep : lists.ignore;
    if (line.startsWith("!")) line = line.slice(1);
    if (line.startsWith("/")) line = line.slice(1);
    list.push(
      line
        .replace(/[-[\]/{}()+?.\\^$|]/g, "\\$&")
        .replaceAll("**", "(.+)")
        .replaceAll("*", "([^\\/]+)"),
    );
  }
  const regex = (list: string[]): RegExp =>
    list.length === 0 ? /$^/ : new RegExp(`^((${list.join(")|(")}))\\b`);
  const [ignored, kept] = [regex(lists.ignore), regex(lists.keep)];
  return (path) => kept.test(path) || !ignored.test(path);
}
