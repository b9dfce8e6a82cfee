import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";
import { createNodeResolver, importX } from "eslint-plugin-import-x";

/**
 * The dependency rule (docs/architecture.md): doors and tools -> app -> core, and inside the core
 * runs -> export -> partnerCenter, with auth beside them and logging a leaf. Each zone names the
 * folders that its files must never import.
 */
const DOORS_AND_TOOLS = ["functions", "cli", "devhost", "demo", "simulator"];
const CORE = ["runs", "export", "partnerCenter", "auth", "logging"];
/** @param {string} folder */
const src = (folder) => `./src/${folder}`;
/** @param {string[]} targets @param {string[]} from @param {string} message */
const forbid = (targets, from, message) => ({ target: targets.map(src), from: from.map(src), message });
const BOUNDARIES = [
  forbid(
    CORE,
    ["config", "app", ...DOORS_AND_TOOLS],
    "the core never imports settings, the composition root, a door or a tool",
  ),
  forbid(["export"], ["runs"], "one run's pipeline (export/) does not know the run lifecycle (runs/)"),
  forbid(["partnerCenter"], ["runs", "export", "auth"], "the Partner Center client sits innermost"),
  forbid(["auth"], ["runs", "export", "partnerCenter"], "auth stands beside the pipeline, not on it"),
  forbid(["logging"], ["runs", "export", "partnerCenter", "auth"], "logging is a leaf"),
  forbid(
    ["common"],
    ["logging", "runs", "export", "partnerCenter", "auth", "config", "app", ...DOORS_AND_TOOLS],
    "common/ holds leaf helpers that import nothing of the product",
  ),
  forbid(
    ["config"],
    ["app", ...DOORS_AND_TOOLS],
    "settings are read by app/ and the doors, never the other way",
  ),
  forbid(["app"], DOORS_AND_TOOLS, "the composition root is used by the doors and tools"),
  forbid(["cli"], ["functions", "devhost", "demo"], "the CLI is a door of its own"),
  forbid(["functions"], ["cli", "devhost", "demo", "simulator"], "the deployed app holds no local tool"),
];

export default defineConfig(
  {
    ignores: [
      "dist/",
      "node_modules/",
      ".tools/",
      "demo-output/",
      "bench/results/",
      "coverage/",
      "infra/**/*.json",
    ],
  },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["eslint.config.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/resolver-next": [createNodeResolver({ extensionAlias: { ".js": [".ts", ".js"] } })],
    },
    rules: {
      "import-x/no-restricted-paths": ["error", { zones: BOUNDARIES }],
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
    },
  },
  {
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
    },
  },
);
