/**
 * Tests of the compiled infrastructure template (.tools/infra/main.json, built from infra/*.bicep by
 * scripts/infra-build.sh). The template is evaluated here with concrete parameter values: a small
 * evaluator for ARM template expressions resolves parameters, variables, module parameters and
 * outputs, copy loops and resource ids, so the assertions are about the values Azure would receive.
 * What only Azure knows at deployment time (a property of a deployed resource, such as the
 * identity's client id) stays symbolic as a Runtime value: reference(<resource id>).<property>.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EXPORTER_NODE_OPTIONS } from "../../src/config/nodeOptions.js";

const root = resolve(import.meta.dirname, "../..");
const compiledTemplate = join(root, ".tools/infra/main.json");
const compiledParameters = join(root, ".tools/infra/main.parameters.json");

// ---------------------------------------------------------------------------------------------
// JSON and values
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = Record<string, Json>;

/** A value only known once Azure has deployed the resource, e.g. reference(<id>).clientId. */
class Runtime {
  constructor(readonly expr: string) {}
  member(name: string): Runtime {
    return new Runtime(`${this.expr}.${name}`);
  }
  toString(): string {
    return `«${this.expr}»`;
  }
}

type Value = null | boolean | number | string | Runtime | Value[] | { [key: string]: Value };
type ValueObject = Record<string, Value>;

function isObject(v: Value | undefined): v is ValueObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Runtime);
}

function isJsonObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: Value): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v === null) return "";
  if (v instanceof Runtime) return v.toString();
  return JSON.stringify(v);
}

function runtime(resourceId: string, ...properties: string[]): Runtime {
  return new Runtime([`reference(${resourceId})`, ...properties].join("."));
}

// ---------------------------------------------------------------------------------------------
// ARM template shapes (only what the evaluator reads)
// ---------------------------------------------------------------------------------------------

interface ArmParameter {
  type: string;
  defaultValue?: Json;
  allowedValues?: Json[];
  minLength?: number;
  maxLength?: number;
  minValue?: number;
  maxValue?: number;
  metadata?: { description?: string };
}

interface ArmResource {
  type: string;
  apiVersion?: string;
  name: string;
  existing?: boolean;
  condition?: Json;
  copy?: { name: string; count: Json };
  scope?: string;
  resourceGroup?: string;
  properties?: JsonObject;
}

interface ArmTemplate {
  languageVersion?: string;
  parameters?: Record<string, ArmParameter>;
  variables?: JsonObject;
  resources: ArmResource[] | Record<string, ArmResource>;
  outputs?: Record<
    string,
    { type: string; value: Json; condition?: Json; metadata?: { description?: string } }
  >;
}

function resourceEntries(template: ArmTemplate): [string, ArmResource][] {
  return Array.isArray(template.resources)
    ? template.resources.map((r, i) => [`#${i}`, r])
    : Object.entries(template.resources);
}

function nestedTemplate(resource: ArmResource): ArmTemplate | undefined {
  const t = resource.properties?.template;
  return isJsonObject(t) ? (t as unknown as ArmTemplate) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Expression parser: [func(args).member[index]] with 'string' literals and numbers
// ---------------------------------------------------------------------------------------------

type Node =
  | { kind: "literal"; value: string | number }
  | { kind: "call"; name: string; args: Node[] }
  | { kind: "member"; target: Node; name: string }
  | { kind: "index"; target: Node; index: Node };

function parseExpression(src: string): Node {
  let pos = 0;
  const fail = (what: string): never => {
    throw new Error(`cannot parse ARM expression (${what} at ${pos}): ${src}`);
  };
  const skip = (): void => {
    while (pos < src.length && /\s/.test(src.charAt(pos))) pos++;
  };
  const expect = (ch: string): void => {
    skip();
    if (src.charAt(pos) !== ch) fail(`expected '${ch}'`);
    pos++;
  };
  const identifier = (): string => {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(pos));
    if (!m) return fail("expected an identifier");
    pos += m[0].length;
    return m[0];
  };
  const primary = (): Node => {
    skip();
    const ch = src.charAt(pos);
    if (ch === "'") {
      pos++;
      let out = "";
      for (;;) {
        if (pos >= src.length) fail("unterminated string");
        const c = src.charAt(pos);
        if (c === "'") {
          if (src.charAt(pos + 1) === "'") {
            out += "'";
            pos += 2;
            continue;
          }
          pos++;
          return { kind: "literal", value: out };
        }
        out += c;
        pos++;
      }
    }
    const num = /^-?\d+(\.\d+)?/.exec(src.slice(pos));
    if (num) {
      pos += num[0].length;
      return { kind: "literal", value: Number(num[0]) };
    }
    const name = identifier();
    expect("(");
    const args: Node[] = [];
    skip();
    if (src.charAt(pos) === ")") {
      pos++;
    } else {
      for (;;) {
        args.push(expression());
        skip();
        if (src.charAt(pos) === ",") {
          pos++;
          continue;
        }
        expect(")");
        break;
      }
    }
    return { kind: "call", name, args };
  };
  const expression = (): Node => {
    let node = primary();
    for (;;) {
      skip();
      if (src.charAt(pos) === ".") {
        pos++;
        node = { kind: "member", target: node, name: identifier() };
      } else if (src.charAt(pos) === "[") {
        pos++;
        const index = expression();
        expect("]");
        node = { kind: "index", target: node, index };
      } else {
        return node;
      }
    }
  };
  const node = expression();
  skip();
  if (pos !== src.length) fail("unexpected text");
  return node;
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

const SUBSCRIPTION_ID = "11111111-1111-1111-1111-111111111111";
const TENANT_ID = "22222222-2222-2222-2222-222222222222";

const azureCloud: ValueObject = {
  name: "AzureCloud",
  suffixes: { storage: "core.windows.net", keyvaultDns: ".vault.azure.net" },
  authentication: { loginEndpoint: "https://login.microsoftonline.com/" },
};

function hash(algorithm: string, parts: Value[]): Buffer {
  return createHash(algorithm).update(parts.map(str).join("|")).digest();
}

/** Same shape as ARM's uniqueString (13 lowercase letters and digits), not the same values. */
function uniqueString(parts: Value[]): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  return [...hash("sha256", parts).subarray(0, 13)].map((b) => alphabet.charAt(b % 32)).join("");
}

function guid(parts: Value[]): string {
  const h = hash("sha1", parts).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function cidrSubnet(prefix: string, bits: number, index: number): string {
  const [address = "", size = ""] = prefix.split("/");
  const base = address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const start = base + index * 2 ** (32 - bits);
  if (bits < Number(size)) throw new Error(`cidrSubnet: /${bits} is larger than ${prefix}`);
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(start / 2 ** shift) % 256);
  return `${octets.join(".")}/${bits}`;
}

function armResourceId(prefix: string, type: string, names: string[]): string {
  const [namespace = "", ...types] = type.split("/");
  if (types.length !== names.length) throw new Error(`resource id: ${type} needs ${types.length} names`);
  return `${prefix}/providers/${namespace}/${types.flatMap((t, i) => [t, names[i] ?? ""]).join("/")}`;
}

interface DeployedResource {
  /** Module path, e.g. "main/storage". */
  module: string;
  symbol: string;
  type: string;
  apiVersion: string;
  name: string;
  id: string;
  existing: boolean;
  /** The resource with every expression evaluated (copy, condition, dependsOn removed). */
  body: ValueObject;
  /** The resource as compiled. */
  raw: ArmResource;
}

interface Scope {
  resourceGroup?: string;
}

/** One template being evaluated with given parameter values (the main template or a module). */
class TemplateContext {
  private readonly variableCache = new Map<string, Value>();
  private readonly parameterCache = new Map<string, Value>();
  private readonly moduleCache = new Map<string, TemplateContext | null>();

  constructor(
    readonly template: ArmTemplate,
    private readonly givenParameters: Record<string, Value>,
    readonly scope: Scope,
    readonly path: string,
    private readonly copyIndexes: ReadonlyMap<string, number> = new Map(),
    private readonly shared?: TemplateContext,
  ) {}

  private get base(): TemplateContext {
    return this.shared ?? this;
  }

  withCopyIndex(loop: string, index: number): TemplateContext {
    const indexes = new Map(this.copyIndexes);
    indexes.set(loop, index);
    indexes.set("", index);
    return new TemplateContext(
      this.template,
      this.givenParameters,
      this.scope,
      this.path,
      indexes,
      this.base,
    );
  }

  get scopePrefix(): string {
    return this.scope.resourceGroup === undefined
      ? `/subscriptions/${SUBSCRIPTION_ID}`
      : `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${this.scope.resourceGroup}`;
  }

  parameter(name: string): Value {
    const base = this.base;
    const cached = base.parameterCache.get(name);
    if (cached !== undefined) return cached;
    const declared = this.template.parameters?.[name];
    if (!declared) throw new Error(`${this.path}: parameter '${name}' is not declared`);
    let value: Value;
    if (name in this.givenParameters) {
      value = this.givenParameters[name] ?? null;
    } else if (declared.defaultValue !== undefined) {
      value = base.evaluate(declared.defaultValue);
    } else {
      throw new Error(`${this.path}: parameter '${name}' has no value`);
    }
    base.parameterCache.set(name, value);
    return value;
  }

  variable(name: string): Value {
    const base = this.base;
    const cached = base.variableCache.get(name);
    if (cached !== undefined) return cached;
    const declared = this.template.variables?.[name];
    if (declared === undefined) throw new Error(`${this.path}: variable '${name}' is not declared`);
    const value = base.evaluate(declared);
    base.variableCache.set(name, value);
    return value;
  }

  copyIndex(loop: string | undefined, offset: number): number {
    const index = this.copyIndexes.get(loop ?? "");
    if (index === undefined) throw new Error(`${this.path}: copyIndex(${loop ?? ""}) outside a loop`);
    return index + offset;
  }

  /** Evaluates a JSON value: expressions in strings (and in object keys), property copy loops. */
  evaluate(json: Json): Value {
    if (typeof json === "string") {
      if (json.startsWith("[[")) return json.slice(1);
      if (json.startsWith("[") && json.endsWith("]"))
        return this.evalNode(parseExpression(json.slice(1, -1)));
      return json;
    }
    if (Array.isArray(json)) return json.map((item) => this.evaluate(item));
    if (json === null || typeof json !== "object") return json;
    const out: ValueObject = {};
    for (const [key, value] of Object.entries(json)) {
      if (key === "copy" && Array.isArray(value)) {
        for (const loop of value) {
          if (!isJsonObject(loop) || typeof loop.name !== "string" || loop.input === undefined) {
            throw new Error(`${this.path}: unsupported property copy`);
          }
          const count = Number(this.evaluate(loop.count ?? 0));
          const loopName = loop.name;
          const input = loop.input;
          out[loopName] = Array.from({ length: count }, (_, i) =>
            this.withCopyIndex(loopName, i).evaluate(input),
          );
        }
        continue;
      }
      out[str(this.evaluate(key))] = this.evaluate(value);
    }
    return out;
  }

  private evalNode(node: Node): Value {
    switch (node.kind) {
      case "literal":
        return node.value;
      case "member":
        return member(this.evalNode(node.target), node.name, this.path);
      case "index": {
        const target = this.evalNode(node.target);
        const index = this.evalNode(node.index);
        if (target instanceof Runtime) return target.member(str(index));
        if (Array.isArray(target) && typeof index === "number") return target[index] ?? null;
        if (isObject(target)) return target[str(index)] ?? null;
        throw new Error(`${this.path}: cannot index ${str(target)} with ${str(index)}`);
      }
      case "call":
        return this.call(node.name, node.args);
    }
  }

  private call(name: string, argNodes: Node[]): Value {
    const lazy = name.toLowerCase();
    // Functions that must not evaluate every argument.
    if (lazy === "if") {
      const [cond, whenTrue, whenFalse] = argNodes;
      if (!cond || !whenTrue || !whenFalse) throw new Error("if() needs three arguments");
      return this.evalNode(cond) === true ? this.evalNode(whenTrue) : this.evalNode(whenFalse);
    }
    const args = argNodes.map((n) => this.evalNode(n));
    const arg = (i: number): Value => args[i] ?? null;
    switch (lazy) {
      case "parameters":
        return this.parameter(str(arg(0)));
      case "variables":
        return this.variable(str(arg(0)));
      case "copyindex":
        return typeof arg(0) === "string"
          ? this.copyIndex(str(arg(0)), Number(arg(1) ?? 0))
          : this.copyIndex(undefined, Number(arg(0) ?? 0));
      case "true":
        return true;
      case "false":
        return false;
      case "null":
        return null;
      case "format":
        return str(arg(0)).replace(/\{(\d+)\}/g, (_, i: string) => str(arg(Number(i) + 1)));
      case "concat":
        return args.every((a) => Array.isArray(a)) ? (args as Value[][]).flat() : args.map(str).join("");
      case "createarray":
        return args;
      case "createobject": {
        const out: ValueObject = {};
        for (let i = 0; i < args.length; i += 2) out[str(arg(i))] = arg(i + 1);
        return out;
      }
      case "union": {
        if (args.every((a) => Array.isArray(a))) return [...new Set((args as Value[][]).flat())];
        return Object.assign({}, ...args.filter(isObject)) as ValueObject;
      }
      case "empty": {
        const v = arg(0);
        if (v instanceof Runtime) return false;
        if (v === null || v === "") return true;
        if (Array.isArray(v)) return v.length === 0;
        return isObject(v) && Object.keys(v).length === 0;
      }
      case "length": {
        const v = arg(0);
        if (typeof v === "string" || Array.isArray(v)) return v.length;
        if (isObject(v)) return Object.keys(v).length;
        throw new Error(`${this.path}: length() of ${str(v)}`);
      }
      case "not":
        return arg(0) !== true;
      case "and":
        return args.every((v) => v === true);
      case "or":
        return args.some((v) => v === true);
      case "equals":
        return JSON.stringify(arg(0)) === JSON.stringify(arg(1));
      case "coalesce":
        return args.find((v) => v !== null) ?? null;
      case "tryget": {
        let v = arg(0);
        for (const key of args.slice(1)) {
          if (v === null) return null;
          v = v instanceof Runtime ? v.member(str(key)) : isObject(v) ? (v[str(key)] ?? null) : null;
        }
        return v;
      }
      case "tolower":
        return str(arg(0)).toLowerCase();
      case "toupper":
        return str(arg(0)).toUpperCase();
      case "replace":
        return str(arg(0)).replaceAll(str(arg(1)), str(arg(2)));
      case "take":
        return str(arg(0)).slice(0, Number(arg(1)));
      case "string":
        return str(arg(0));
      case "json":
        return JSON.parse(str(arg(0))) as Value;
      case "uniquestring":
        return uniqueString(args);
      case "guid":
        return guid(args);
      case "cidrsubnet":
        return cidrSubnet(str(arg(0)), Number(arg(1)), Number(arg(2)));
      case "subscription":
        return {
          id: `/subscriptions/${SUBSCRIPTION_ID}`,
          subscriptionId: SUBSCRIPTION_ID,
          tenantId: TENANT_ID,
        };
      case "tenant":
        return { tenantId: TENANT_ID };
      case "environment":
        return azureCloud;
      case "deployment":
        return { name: "main" };
      case "resourcegroup":
        if (this.scope.resourceGroup === undefined)
          throw new Error(`${this.path}: resourceGroup() at subscription scope`);
        return { name: this.scope.resourceGroup, id: this.scopePrefix };
      case "resourceid": {
        const typeIndex = args.findIndex((a) => typeof a === "string" && /^[A-Za-z]+\.[A-Za-z.]+\//.test(a));
        if (typeIndex < 0 || typeIndex > 2) throw new Error(`${this.path}: resourceId() without a type`);
        const names = args.slice(typeIndex + 1).map(str);
        return armResourceId(this.scopePrefix, str(arg(typeIndex)), names);
      }
      case "subscriptionresourceid":
        return armResourceId(`/subscriptions/${SUBSCRIPTION_ID}`, str(arg(0)), args.slice(1).map(str));
      case "reference":
        return this.reference(arg(0));
      default:
        throw new Error(`${this.path}: the test's evaluator does not know the function ${name}()`);
    }
  }

  /** reference(symbol) of a module gives its outputs; of a resource (or an id), a Runtime value. */
  private reference(target: Value): Value {
    if (typeof target !== "string") throw new Error(`${this.path}: reference(${str(target)})`);
    if (target.startsWith("/")) return runtime(target);
    const resources = this.template.resources;
    const declared = Array.isArray(resources) ? undefined : resources[target];
    if (!declared) throw new Error(`${this.path}: reference('${target}') to an unknown symbol`);
    if (declared.type === "Microsoft.Resources/deployments") {
      const module = this.module(target);
      if (!module) return null;
      const outputs: ValueObject = {};
      for (const [name, value] of Object.entries(module.outputs())) outputs[name] = { value };
      return { outputs };
    }
    return runtime(this.resourceIdOf(declared));
  }

  resourceIdOf(resource: ArmResource): string {
    const name = str(this.evaluate(resource.name));
    if (resource.type === "Microsoft.Resources/resourceGroups") {
      return `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${name}`;
    }
    let prefix = this.scopePrefix;
    if (resource.scope !== undefined) {
      const scope = str(this.evaluate(resource.scope));
      prefix = scope.startsWith("/") ? scope : `${this.scopePrefix}/providers/${scope}`;
    }
    return armResourceId(prefix, resource.type, name.split("/"));
  }

  conditionHolds(resource: ArmResource): boolean {
    return resource.condition === undefined || this.evaluate(resource.condition) === true;
  }

  /** The module (nested deployment) declared under this symbol, or null when its condition is false. */
  module(symbol: string): TemplateContext | null {
    const base = this.base;
    if (base.moduleCache.has(symbol)) return base.moduleCache.get(symbol) ?? null;
    const entry = resourceEntries(this.template).find(([s]) => s === symbol);
    const resource = entry?.[1];
    const template = resource ? nestedTemplate(resource) : undefined;
    if (!resource || !template) throw new Error(`${this.path}: '${symbol}' is not a module`);
    let module: TemplateContext | null = null;
    if (this.conditionHolds(resource)) {
      const given: Record<string, Value> = {};
      const parameters = resource.properties?.parameters;
      if (isJsonObject(parameters)) {
        for (const [name, wrapper] of Object.entries(parameters)) {
          if (isJsonObject(wrapper) && wrapper.value !== undefined)
            given[name] = this.evaluate(wrapper.value);
        }
      }
      const resourceGroup =
        resource.resourceGroup !== undefined
          ? str(this.evaluate(resource.resourceGroup))
          : this.scope.resourceGroup;
      module = new TemplateContext(template, given, { resourceGroup }, `${this.path}/${symbol}`);
    }
    base.moduleCache.set(symbol, module);
    return module;
  }

  outputs(): ValueObject {
    const out: ValueObject = {};
    for (const [name, output] of Object.entries(this.template.outputs ?? {})) {
      if (output.condition !== undefined && this.evaluate(output.condition) !== true) continue;
      out[name] = this.evaluate(output.value);
    }
    return out;
  }

  /** Every resource this template (and its modules) deploys, with evaluated names, ids and bodies. */
  deployedResources(): DeployedResource[] {
    const found: DeployedResource[] = [];
    for (const [symbol, resource] of resourceEntries(this.template)) {
      const template = nestedTemplate(resource);
      if (template) {
        if (Array.isArray(this.template.resources)) {
          throw new Error(`${this.path}: nested deployments are only evaluated in symbolic-name templates`);
        }
        const module = this.module(symbol);
        if (module) found.push(...module.deployedResources());
        continue;
      }
      const iterations: TemplateContext[] = resource.copy
        ? Array.from({ length: Number(this.evaluate(resource.copy.count)) }, (_, i) =>
            this.withCopyIndex(resource.copy?.name ?? "", i),
          )
        : [this];
      for (const ctx of iterations) {
        if (!ctx.conditionHolds(resource)) continue;
        const body: ValueObject = {};
        for (const [key, value] of Object.entries(resource as unknown as JsonObject)) {
          if (key === "copy" || key === "condition" || key === "dependsOn") continue;
          body[key] = ctx.evaluate(value);
        }
        found.push({
          module: this.path,
          symbol,
          type: resource.type,
          apiVersion: resource.apiVersion ?? "",
          name: str(body.name ?? null),
          id: ctx.resourceIdOf(resource),
          existing: resource.existing === true,
          body,
          raw: resource,
        });
      }
    }
    return found;
  }
}

function member(target: Value, name: string, where: string): Value {
  if (target instanceof Runtime) return target.member(name);
  if (isObject(target) && name in target) return target[name] ?? null;
  throw new Error(`${where}: no property '${name}' on ${str(target)}`);
}

// ---------------------------------------------------------------------------------------------
// The template under test
// ---------------------------------------------------------------------------------------------

let template: ArmTemplate;
let templateText: string;

function newestInfraSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestInfraSource(path));
    else if (/\.(bicep|bicepparam|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

beforeAll(() => {
  const stale =
    !existsSync(compiledTemplate) ||
    !existsSync(compiledParameters) ||
    statSync(compiledTemplate).mtimeMs < newestInfraSource(join(root, "infra")) ||
    statSync(compiledParameters).mtimeMs < newestInfraSource(join(root, "infra"));
  if (stale) {
    execFileSync("bash", [join(root, "scripts/infra-build.sh")], {
      cwd: root,
      stdio: "pipe",
      timeout: 300_000,
    });
  }
  templateText = readFileSync(compiledTemplate, "utf8");
  template = JSON.parse(templateText) as ArmTemplate;
}, 300_000);

const ENVIRONMENT = "contoso-prod";
const LOCATION = "westeurope";
const CLIENT_ID = "33333333-3333-3333-3333-333333333333";
const USER_ID = "44444444-4444-4444-4444-444444444444";

interface Deployment {
  ctx: TemplateContext;
  resources: DeployedResource[];
  outputs: ValueObject;
}

function deploy(parameters: Record<string, Value> = {}): Deployment {
  const ctx = new TemplateContext(
    template,
    {
      environmentName: ENVIRONMENT,
      location: LOCATION,
      partnerCenterClientId: CLIENT_ID,
      principalId: USER_ID,
      ...parameters,
    },
    {},
    "main",
  );
  return { ctx, resources: ctx.deployedResources(), outputs: ctx.outputs() };
}

/** Resource types the tests below assert on; every deployed type must be here (and touched). */
const COVERED_TYPES = [
  "Microsoft.Resources/resourceGroups",
  "Microsoft.ManagedIdentity/userAssignedIdentities",
  "Microsoft.OperationalInsights/workspaces",
  "Microsoft.Insights/components",
  "Microsoft.Storage/storageAccounts",
  "Microsoft.Storage/storageAccounts/blobServices",
  "Microsoft.Storage/storageAccounts/blobServices/containers",
  "Microsoft.Storage/storageAccounts/queueServices",
  "Microsoft.Storage/storageAccounts/queueServices/queues",
  "Microsoft.Storage/storageAccounts/managementPolicies",
  "Microsoft.KeyVault/vaults",
  "Microsoft.Web/serverfarms",
  "Microsoft.Web/sites",
  "Microsoft.Web/sites/basicPublishingCredentialsPolicies",
  "Microsoft.Authorization/roleAssignments",
  "Microsoft.Network/virtualNetworks",
  "Microsoft.Network/privateDnsZones",
  "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
  "Microsoft.Network/privateEndpoints",
  "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
];

const touchedTypes = new Set<string>();

/** The deployed (not `existing`) resources of one type; records that a test asserted on the type. */
function ofType(d: Deployment, type: string): DeployedResource[] {
  touchedTypes.add(type);
  return d.resources.filter((r) => r.type === type && !r.existing);
}

function single(d: Deployment, type: string): DeployedResource {
  const found = ofType(d, type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
}

function props(r: DeployedResource): ValueObject {
  const p = r.body.properties;
  if (!isObject(p)) throw new Error(`${r.type} ${r.name} has no properties`);
  return p;
}

function at(v: Value | undefined, ...path: (string | number)[]): Value {
  let cur: Value = v ?? null;
  for (const key of path) {
    if (Array.isArray(cur) && typeof key === "number") cur = cur[key] ?? null;
    else if (isObject(cur)) cur = cur[String(key)] ?? null;
    else return null;
  }
  return cur;
}

/** Every resource template in main.json, including those of nested deployments (modules). */
function allTemplateResources(t: ArmTemplate): ArmResource[] {
  return resourceEntries(t).flatMap(([, r]) => {
    const nested = nestedTemplate(r);
    return nested ? [r, ...allTemplateResources(nested)] : [r];
  });
}

function allTemplates(t: ArmTemplate): ArmTemplate[] {
  return [
    t,
    ...resourceEntries(t).flatMap(([, r]) => (nestedTemplate(r) ? allTemplates(nestedTemplate(r)!) : [])),
  ];
}

function appSettings(d: Deployment): Record<string, Value> {
  const site = single(d, "Microsoft.Web/sites");
  const list = at(props(site), "siteConfig", "appSettings");
  if (!Array.isArray(list)) throw new Error("the function app has no appSettings array");
  const settings: Record<string, Value> = {};
  for (const entry of list) {
    const name = str(at(entry, "name"));
    expect(settings, `app setting ${name} is set twice`).not.toHaveProperty(name);
    settings[name] = at(entry, "value");
  }
  return settings;
}

// Built-in role definition ids.
const ROLE = {
  storageBlobDataOwner: "b7e6b10f-690d-4e13-a2ec-4ec1e7b1d4cb",
  storageBlobDataReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
  storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
  keyVaultSecretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
};
const FORBIDDEN_ROLES = {
  owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
  storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  storageAccountContributor: "17d1049b-9a84-46fb-8f53-869881c3d3ab",
};

function roleDefinition(id: string): string {
  return `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${id}`;
}

/** Ids of the main resources of a deployment, derived from the evaluated resources. */
function ids(d: Deployment): {
  rg: string;
  identity: string;
  storage: string;
  vault: string;
  insights: string;
} {
  return {
    rg: single(d, "Microsoft.Resources/resourceGroups").id,
    identity: single(d, "Microsoft.ManagedIdentity/userAssignedIdentities").id,
    storage: single(d, "Microsoft.Storage/storageAccounts").id,
    vault: single(d, "Microsoft.KeyVault/vaults").id,
    insights: single(d, "Microsoft.Insights/components").id,
  };
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe("template shape", () => {
  it("targets the subscription and creates one resource group that holds every other resource", () => {
    const d = deploy();
    const rg = single(d, "Microsoft.Resources/resourceGroups");
    expect(rg.name).toBe(`rg-${ENVIRONMENT}`);
    expect(rg.body.location).toBe(LOCATION);
    expect(at(rg.body, "tags", "azd-env-name")).toBe(ENVIRONMENT);
    for (const r of d.resources.filter((x) => x.type !== "Microsoft.Resources/resourceGroups")) {
      expect(r.id.startsWith(`${rg.id}/providers/`), `${r.type} ${r.id}`).toBe(true);
    }
    expect(
      single(deploy({ resourceGroupName: "rg-partner-exports" }), "Microsoft.Resources/resourceGroups").name,
    ).toBe("rg-partner-exports");
  });

  it("uses no registry modules: every module is compiled into the template", () => {
    for (const r of allTemplateResources(template).filter(
      (x) => x.type === "Microsoft.Resources/deployments",
    )) {
      expect(nestedTemplate(r), r.name).toBeDefined();
      expect(r.properties).not.toHaveProperty("templateLink");
    }
  });

  it("describes every parameter and output of the main template", () => {
    for (const [name, p] of Object.entries(template.parameters ?? {})) {
      expect(p.metadata?.description, `parameter ${name}`).toMatch(/\S/);
    }
    for (const [name, o] of Object.entries(template.outputs ?? {})) {
      expect(o.metadata?.description, `output ${name}`).toMatch(/\S/);
    }
  });

  it("declares the parameters with the documented defaults and constraints", () => {
    const p = template.parameters ?? {};
    expect(p.partnerCenterCloud).toMatchObject({
      defaultValue: "global",
      allowedValues: ["global", "usgov"],
    });
    expect(p.partnerCenterCredential).toMatchObject({
      defaultValue: "managed-identity",
      allowedValues: ["managed-identity", "secret", "certificate"],
    });
    expect(p.tenantId?.defaultValue).toBe("[tenant().tenantId]");
    expect(p.partnerCenterClientId?.defaultValue).toBeUndefined();
    expect(p.partnerCenterClientSecretName?.defaultValue).toBe("partner-center-client-secret");
    expect(p.partnerCenterCertificateName?.defaultValue).toBe("partner-center-client-certificate");
    expect(p.tokenCacheSecretName?.defaultValue).toBe("partner-center-token-cache");
    expect(p.exportContainerName).toMatchObject({ defaultValue: "referrals", minLength: 3, maxLength: 63 });
    expect(p.exportSchedule?.defaultValue).toBe("0 0 2 * * *");
    // Read links are off unless asked for; at most a day.
    expect(p.httpReadLinkMinutes).toMatchObject({
      type: "int",
      defaultValue: 0,
      minValue: 0,
      maxValue: 1440,
    });
    expect(p.principalId?.defaultValue).toBe("");
    expect(p.principalType).toMatchObject({
      defaultValue: "User",
      allowedValues: ["User", "Group", "ServicePrincipal"],
    });
    expect(p.enableNetworkIsolation).toMatchObject({ type: "bool", defaultValue: false });
    expect(p.instanceMemoryMB).toMatchObject({ type: "int", allowedValues: [512, 2048, 4096] });
    expect(p.maximumInstanceCount).toMatchObject({ type: "int", minValue: 1, maxValue: 1000 });
    expect(p.exportCoolAfterDays?.type).toBe("int");
    expect(p.exportDeleteAfterDays?.type).toBe("int");
    expect(p.environmentName).toMatchObject({ minLength: 1, maxLength: 64 });

    // A JSON default that starts with "[" must be escaped ("[[") or ARM would read it as an expression.
    const profiles = JSON.parse(str(deploy().ctx.parameter("exportProfiles"))) as unknown;
    expect(profiles).toEqual([{ name: "all-referrals", formats: ["csv", "json"], schedule: true }]);
  });

  it("declares no secure parameters anywhere (the template handles no secret)", () => {
    for (const t of allTemplates(template)) {
      for (const [name, p] of Object.entries(t.parameters ?? {})) {
        expect(p.type.toLowerCase(), name).not.toMatch(/^secure/);
      }
    }
  });

  it("compiles main.bicepparam, whose values come from the azd environment and fall back to the defaults", () => {
    const parameters = (
      JSON.parse(readFileSync(compiledParameters, "utf8")) as { parameters: Record<string, unknown> }
    ).parameters;
    for (const name of Object.keys(parameters)) expect(template.parameters, name).toHaveProperty(name);

    const source = readFileSync(join(root, "infra/main.bicepparam"), "utf8");
    expect(source).toMatch(/^using '\.\/main\.bicep'$/m);
    const reads = new Map<string, { variable: string; fallback: string }>();
    for (const m of source.matchAll(
      /^param (\w+) = (?:(?:bool|int)\()?readEnvironmentVariable\(\s*'(\w+)',\s*'([^']*)'\s*\)/gm,
    )) {
      reads.set(m[1]!, { variable: m[2]!, fallback: m[3]! });
    }
    expect(reads.size).toBe(Object.keys(parameters).length);
    expect(reads.get("environmentName")?.variable).toBe("AZURE_ENV_NAME");
    expect(reads.get("location")?.variable).toBe("AZURE_LOCATION");
    expect(reads.get("principalId")?.variable).toBe("AZURE_PRINCIPAL_ID");
    expect(reads.get("partnerCenterClientId")?.variable).toBe("PARTNER_CENTER_CLIENT_ID");
    expect(reads.get("httpReadLinkMinutes")?.variable).toBe("HTTP_READ_LINK_MINUTES");
    // A fallback never differs from the template's own default (no second source of truth).
    for (const [name, { fallback }] of reads) {
      const declared = template.parameters?.[name];
      if (declared?.defaultValue === undefined) continue;
      const defaultValue = new TemplateContext(template, {}, {}, "main").evaluate(declared.defaultValue);
      expect(str(defaultValue), name).toBe(fallback);
    }
  });

  it("raises every Bicep linter rule to error (no rule left at warning level)", () => {
    const config = JSON.parse(readFileSync(join(root, "infra/bicepconfig.json"), "utf8")) as {
      analyzers: { core: { enabled: boolean; rules: Record<string, { level: string }> } };
    };
    expect(config.analyzers.core.enabled).toBe(true);
    const rules = config.analyzers.core.rules;
    expect(Object.keys(rules).length).toBeGreaterThanOrEqual(40);
    for (const [name, rule] of Object.entries(rules)) {
      // use-recent-module-versions asks a module registry; the template uses none.
      expect(rule.level, name).toBe(name === "use-recent-module-versions" ? "off" : "error");
    }
    for (const name of [
      "use-recent-api-versions",
      "no-hardcoded-env-urls",
      "outputs-should-not-contain-secrets",
    ]) {
      expect(rules[name]?.level, name).toBe("error");
    }
  });
});

describe("storage account", () => {
  it("accepts only Microsoft Entra, HTTPS, TLS 1.2 requests and no anonymous access", () => {
    const d = deploy();
    const storage = single(d, "Microsoft.Storage/storageAccounts");
    const p = props(storage);
    expect(storage.body.kind).toBe("StorageV2");
    expect(p.allowSharedKeyAccess).toBe(false);
    expect(p.allowBlobPublicAccess).toBe(false);
    expect(p.minimumTlsVersion).toBe("TLS1_2");
    expect(p.supportsHttpsTrafficOnly).toBe(true);
    expect(p.defaultToOAuthAuthentication).toBe(true);
    expect(p.allowCrossTenantReplication).toBe(false);
    expect(p.publicNetworkAccess).toBe("Enabled");
    expect(storage.name).toMatch(/^st[a-z0-9]{13}$/);
    expect(at(storage.body, "sku", "name")).toBe("Standard_LRS");
    const zrs = single(deploy({ storageSkuName: "Standard_ZRS" }), "Microsoft.Storage/storageAccounts");
    expect(at(zrs.body, "sku", "name")).toBe("Standard_ZRS");
  });

  it("keeps deleted blobs and containers restorable and versions every blob", () => {
    const blob = single(deploy(), "Microsoft.Storage/storageAccounts/blobServices");
    expect(blob.name).toMatch(/\/default$/);
    expect(props(blob)).toMatchObject({
      isVersioningEnabled: true,
      deleteRetentionPolicy: { enabled: true, days: 14 },
      containerDeleteRetentionPolicy: { enabled: true, days: 14 },
    });
    const custom = single(
      deploy({ blobSoftDeleteRetentionDays: 9 }),
      "Microsoft.Storage/storageAccounts/blobServices",
    );
    expect(at(props(custom), "deleteRetentionPolicy", "days")).toBe(9);
    expect(at(props(custom), "containerDeleteRetentionPolicy", "days")).toBe(9);
  });

  it("creates the deployment package, exports, run status and lock containers, all private", () => {
    const d = deploy();
    const storageName = single(d, "Microsoft.Storage/storageAccounts").name;
    const containers = ofType(d, "Microsoft.Storage/storageAccounts/blobServices/containers");
    expect(containers.map((c) => c.name).sort()).toEqual(
      ["app-package", "export-locks", "export-runs", "referrals"].map((n) => `${storageName}/default/${n}`),
    );
    for (const c of containers) expect(props(c).publicAccess, c.name).toBe("None");

    const renamed = ofType(
      deploy({ exportContainerName: "partner-exports" }),
      "Microsoft.Storage/storageAccounts/blobServices/containers",
    );
    expect(renamed.map((c) => c.name.split("/")[2])).toContain("partner-exports");
    expect(renamed.map((c) => c.name.split("/")[2])).not.toContain("referrals");
  });

  it("creates the export job queue and its poison queue", () => {
    const d = deploy();
    const storageName = single(d, "Microsoft.Storage/storageAccounts").name;
    expect(single(d, "Microsoft.Storage/storageAccounts/queueServices").name).toBe(`${storageName}/default`);
    expect(
      ofType(d, "Microsoft.Storage/storageAccounts/queueServices/queues")
        .map((q) => q.name)
        .sort(),
    ).toEqual([`${storageName}/default/export-jobs`, `${storageName}/default/export-jobs-poison`]);
  });

  it("ages export blobs out with a lifecycle rule filtered on the exports container", () => {
    const rulesOf = (d: Deployment): Value[] => {
      const policy = single(d, "Microsoft.Storage/storageAccounts/managementPolicies");
      expect(policy.name).toMatch(/\/default$/);
      const rules = at(props(policy), "policy", "rules");
      if (!Array.isArray(rules)) throw new Error("no lifecycle rules");
      return rules;
    };
    const ruleOn = (rules: Value[], container: string): Value =>
      rules.find((r) => str(at(r, "definition", "filters", "prefixMatch", 0)) === `${container}/`) ?? null;

    const defaults = rulesOf(deploy());
    expect(ruleOn(defaults, "referrals")).toMatchObject({
      enabled: true,
      type: "Lifecycle",
      definition: {
        filters: { blobTypes: ["blockBlob"], prefixMatch: ["referrals/"] },
        actions: {
          baseBlob: {
            tierToCool: { daysAfterModificationGreaterThan: 30 },
            delete: { daysAfterModificationGreaterThan: 365 },
          },
        },
      },
    });

    const custom = rulesOf(
      deploy({
        exportCoolAfterDays: 11,
        exportDeleteAfterDays: 222,
        previousVersionRetentionDays: 5,
        exportContainerName: "pc",
      }),
    );
    expect(at(ruleOn(custom, "pc"), "definition", "filters", "prefixMatch")).toEqual(["pc/"]);
    expect(at(ruleOn(custom, "pc"), "definition", "actions", "baseBlob")).toEqual({
      tierToCool: { daysAfterModificationGreaterThan: 11 },
      delete: { daysAfterModificationGreaterThan: 222 },
    });

    // Run records go when the exports they describe do, and are never tiered.
    expect(ruleOn(custom, "export-runs")).toMatchObject({
      enabled: true,
      definition: {
        filters: { blobTypes: ["blockBlob"], prefixMatch: ["export-runs/"] },
        actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 222 } } },
      },
    });
    expect(at(ruleOn(custom, "export-runs"), "definition", "actions", "baseBlob", "tierToCool")).toBeNull();

    // Every rule that tiers or deletes current blobs is limited to the exports container or the
    // run records; the account-wide rule only removes previous versions (locks, the deployment
    // package and the Functions host's own blobs are never aged out).
    for (const rule of custom) {
      const baseBlob = at(rule, "definition", "actions", "baseBlob");
      if (baseBlob !== null) {
        expect(["pc/", "export-runs/"]).toContain(str(at(rule, "definition", "filters", "prefixMatch", 0)));
        expect(at(rule, "definition", "filters", "prefixMatch")).toHaveLength(1);
      } else {
        expect(at(rule, "definition", "actions")).toEqual({
          version: { delete: { daysAfterCreationGreaterThan: 5 } },
        });
      }
    }
    expect(custom).toHaveLength(3);
  });
});

describe("key vault", () => {
  it("uses Azure RBAC, soft delete and purge protection, in the subscription's tenant", () => {
    const vault = single(deploy(), "Microsoft.KeyVault/vaults");
    expect(vault.name).toMatch(/^kv-[a-z0-9]{13}$/);
    expect(props(vault)).toMatchObject({
      tenantId: TENANT_ID,
      enableRbacAuthorization: true,
      enableSoftDelete: true,
      softDeleteRetentionInDays: 90,
      enablePurgeProtection: true,
      publicNetworkAccess: "Enabled",
      sku: { family: "A", name: "standard" },
    });
    expect(props(vault)).not.toHaveProperty("accessPolicies");
    const custom = single(deploy({ keyVaultSoftDeleteRetentionInDays: 30 }), "Microsoft.KeyVault/vaults");
    expect(props(custom).softDeleteRetentionInDays).toBe(30);
  });

  it("creates no secret: the token cache is written later by `auth login`", () => {
    const types = allTemplateResources(template).map((r) => r.type);
    expect(types.filter((t) => t.startsWith("Microsoft.KeyVault/vaults/"))).toEqual([]);
  });
});

describe("monitoring", () => {
  it("sends Application Insights data to the Log Analytics workspace, local authentication off", () => {
    const d = deploy();
    const workspace = single(d, "Microsoft.OperationalInsights/workspaces");
    const insights = single(d, "Microsoft.Insights/components");
    expect(props(workspace)).toMatchObject({ retentionInDays: 30, features: { disableLocalAuth: true } });
    expect(insights.body.kind).toBe("web");
    expect(props(insights)).toMatchObject({
      Application_Type: "web",
      WorkspaceResourceId: workspace.id,
      DisableLocalAuth: true,
    });
    expect(
      props(single(deploy({ logRetentionInDays: 90 }), "Microsoft.OperationalInsights/workspaces"))
        .retentionInDays,
    ).toBe(90);
  });
});

describe("function app", () => {
  it("runs on a Flex Consumption (FC1) Linux plan", () => {
    const plan = single(deploy(), "Microsoft.Web/serverfarms");
    expect(plan.body.sku).toEqual({ tier: "FlexConsumption", name: "FC1" });
    expect(plan.body.kind).toBe("functionapp");
    expect(props(plan).reserved).toBe(true);
  });

  it("runs Node.js 22 as its user-assigned identity, HTTPS only, TLS 1.2, no FTP", () => {
    const d = deploy();
    const { identity } = ids(d);
    const site = single(d, "Microsoft.Web/sites");
    const p = props(site);
    expect(site.body.kind).toBe("functionapp,linux");
    expect(site.body.identity).toEqual({ type: "UserAssigned", userAssignedIdentities: { [identity]: {} } });
    expect(p.serverFarmId).toBe(single(d, "Microsoft.Web/serverfarms").id);
    expect(p.httpsOnly).toBe(true);
    expect(at(p, "functionAppConfig", "runtime")).toEqual({ name: "node", version: "22" });
    expect(at(p, "siteConfig", "minTlsVersion")).toBe("1.2");
    expect(at(p, "siteConfig", "scmMinTlsVersion")).toBe("1.2");
    expect(at(p, "siteConfig", "ftpsState")).toBe("Disabled");
    expect(at(site.body, "tags", "azd-service-name")).toBe("api");
    expect(p.virtualNetworkSubnetId).toBeNull();
  });

  it("takes the scale settings from parameters", () => {
    const scale = (d: Deployment): Value =>
      at(props(single(d, "Microsoft.Web/sites")), "functionAppConfig", "scaleAndConcurrency");
    expect(scale(deploy())).toEqual({ maximumInstanceCount: 20, instanceMemoryMB: 2048 });
    expect(scale(deploy({ maximumInstanceCount: 7, instanceMemoryMB: 4096 }))).toEqual({
      maximumInstanceCount: 7,
      instanceMemoryMB: 4096,
    });
  });

  it("deploys its package to a blob container with identity authentication", () => {
    const d = deploy();
    const { identity } = ids(d);
    const storageName = single(d, "Microsoft.Storage/storageAccounts").name;
    expect(at(props(single(d, "Microsoft.Web/sites")), "functionAppConfig", "deployment", "storage")).toEqual(
      {
        type: "blobContainer",
        value: `https://${storageName}.blob.core.windows.net/app-package`,
        authentication: { type: "UserAssignedIdentity", userAssignedIdentityResourceId: identity },
      },
    );
  });

  it("turns off FTP and SCM basic-auth publishing", () => {
    const d = deploy();
    const site = single(d, "Microsoft.Web/sites");
    const policies = ofType(d, "Microsoft.Web/sites/basicPublishingCredentialsPolicies");
    expect(policies.map((x) => x.name).sort()).toEqual([`${site.name}/ftp`, `${site.name}/scm`]);
    for (const policy of policies) expect(props(policy), policy.name).toEqual({ allow: false });
  });

  it("sets exactly the identity-based host settings and the product settings", () => {
    const d = deploy();
    const { identity, vault, insights } = ids(d);
    const storageName = single(d, "Microsoft.Storage/storageAccounts").name;
    const clientId = runtime(identity, "clientId");
    expect(appSettings(d)).toEqual({
      AzureWebJobsStorage__accountName: storageName,
      AzureWebJobsStorage__blobServiceUri: `https://${storageName}.blob.core.windows.net`,
      AzureWebJobsStorage__queueServiceUri: `https://${storageName}.queue.core.windows.net`,
      AzureWebJobsStorage__credential: "managedidentity",
      AzureWebJobsStorage__clientId: clientId,
      AZURE_CLIENT_ID: clientId,
      APPLICATIONINSIGHTS_CONNECTION_STRING: runtime(insights, "ConnectionString"),
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `ClientId=${clientId.toString()};Authorization=AAD`,
      PARTNER_CENTER_CLOUD: "global",
      AZURE_TENANT_ID: TENANT_ID,
      PARTNER_CENTER_CLIENT_ID: CLIENT_ID,
      PARTNER_CENTER_CREDENTIAL: "managed-identity",
      PARTNER_CENTER_CLIENT_SECRET_NAME: "partner-center-client-secret",
      PARTNER_CENTER_CERTIFICATE_NAME: "partner-center-client-certificate",
      KEY_VAULT_URL: runtime(vault, "vaultUri"),
      TOKEN_CACHE_SECRET_NAME: "partner-center-token-cache",
      EXPORT_STORAGE_ACCOUNT_URL: `https://${storageName}.blob.core.windows.net`,
      EXPORT_CONTAINER: "referrals",
      EXPORT_PROFILES: '[{"name":"all-referrals","formats":["csv","json"],"schedule":true}]',
      EXPORT_SCHEDULE: "0 0 2 * * *",
      NODE_OPTIONS: EXPORTER_NODE_OPTIONS,
      HTTP_READ_LINK_MINUTES: "0",
    });
  });

  it("passes every product parameter through to its app setting", () => {
    const settings = appSettings(
      deploy({
        partnerCenterCloud: "usgov",
        tenantId: "55555555-5555-5555-5555-555555555555",
        partnerCenterCredential: "certificate",
        partnerCenterClientSecretName: "pc-secret",
        partnerCenterCertificateName: "pc-cert",
        tokenCacheSecretName: "pc-cache",
        exportContainerName: "pc-exports",
        exportProfiles: '[{"name":"won","filter":"status eq \'Won\'"}]',
        exportSchedule: "0 30 3 * * 1",
        httpReadLinkMinutes: 60,
      }),
    );
    expect(settings).toMatchObject({
      PARTNER_CENTER_CLOUD: "usgov",
      AZURE_TENANT_ID: "55555555-5555-5555-5555-555555555555",
      PARTNER_CENTER_CLIENT_ID: CLIENT_ID,
      PARTNER_CENTER_CREDENTIAL: "certificate",
      PARTNER_CENTER_CLIENT_SECRET_NAME: "pc-secret",
      PARTNER_CENTER_CERTIFICATE_NAME: "pc-cert",
      TOKEN_CACHE_SECRET_NAME: "pc-cache",
      EXPORT_CONTAINER: "pc-exports",
      EXPORT_PROFILES: '[{"name":"won","filter":"status eq \'Won\'"}]',
      EXPORT_SCHEDULE: "0 30 3 * * 1",
      HTTP_READ_LINK_MINUTES: "60",
    });
  });

  it("has no secret, key or key-based connection string in any setting or output", () => {
    const d = deploy();
    const { insights } = ids(d);
    const settings = appSettings(d);
    // Settings the Flex Consumption plan rejects or that would carry keys.
    for (const name of [
      "AzureWebJobsStorage",
      "FUNCTIONS_WORKER_RUNTIME",
      "FUNCTIONS_EXTENSION_VERSION",
      "WEBSITE_RUN_FROM_PACKAGE",
      "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
      "APPINSIGHTS_INSTRUMENTATIONKEY",
    ]) {
      expect(settings, name).not.toHaveProperty(name);
    }
    const keyLike =
      /AccountKey=|SharedAccessSignature=|SharedAccessKey=|InstrumentationKey=|[?&]sig=|ClientSecret=/i;
    const runtimeSecret =
      /\.(primaryKey|secondaryKey|keys|InstrumentationKey|primaryConnectionString|secretValue|value)\b/i;
    const check = (where: string, v: Value): void => {
      if (v instanceof Runtime) {
        expect(v.expr, where).not.toMatch(runtimeSecret);
        if (v.expr.endsWith(".ConnectionString")) {
          // Only the Application Insights connection string (it identifies the component; with
          // local auth off it grants nothing) and only in its own app setting.
          expect(where).toBe("setting APPLICATIONINSIGHTS_CONNECTION_STRING");
          expect(v).toEqual(runtime(insights, "ConnectionString"));
        }
      } else {
        expect(str(v), where).not.toMatch(keyLike);
      }
    };
    for (const [name, value] of Object.entries(settings)) check(`setting ${name}`, value);
    for (const [name, value] of Object.entries(d.outputs)) check(`output ${name}`, value);
    // The compiled template itself never asks Azure for a key or secret.
    expect(templateText).not.toMatch(
      /list(Keys|Secrets|AccountSas|ServiceSas|ConnectionStrings|Credentials?)\s*\(/i,
    );
    expect(templateText).not.toMatch(keyLike);
    expect(templateText).not.toMatch(/InstrumentationKey/);
  });
});

describe("role assignments", () => {
  interface Grant {
    role: string;
    scope: string;
    principal: Value;
    principalType: Value;
  }
  const grants = (d: Deployment): Grant[] =>
    ofType(d, "Microsoft.Authorization/roleAssignments").map((r) => ({
      role: str(props(r).roleDefinitionId ?? null),
      scope: str(r.body.scope ?? null),
      principal: props(r).principalId ?? null,
      principalType: props(r).principalType ?? null,
    }));
  const byRole = (list: Grant[]): Grant[] =>
    [...list].sort((a, b) =>
      `${a.role}${a.scope}${str(a.principal)}`.localeCompare(`${b.role}${b.scope}${str(b.principal)}`),
    );

  it("grants the app identity and the deploying user exactly the intended roles on single resources", () => {
    const d = deploy();
    const { identity, storage, vault, insights } = ids(d);
    const app = runtime(identity, "principalId");
    expect(byRole(grants(d))).toEqual(
      byRole([
        {
          role: roleDefinition(ROLE.storageBlobDataOwner),
          scope: storage,
          principal: app,
          principalType: "ServicePrincipal",
        },
        {
          role: roleDefinition(ROLE.storageQueueDataContributor),
          scope: storage,
          principal: app,
          principalType: "ServicePrincipal",
        },
        {
          role: roleDefinition(ROLE.keyVaultSecretsOfficer),
          scope: vault,
          principal: app,
          principalType: "ServicePrincipal",
        },
        {
          role: roleDefinition(ROLE.monitoringMetricsPublisher),
          scope: insights,
          principal: app,
          principalType: "ServicePrincipal",
        },
        {
          role: roleDefinition(ROLE.keyVaultSecretsOfficer),
          scope: vault,
          principal: USER_ID,
          principalType: "User",
        },
        {
          role: roleDefinition(ROLE.storageBlobDataReader),
          scope: storage,
          principal: USER_ID,
          principalType: "User",
        },
      ]),
    );
  });

  it("grants the deploying user nothing when principalId is empty, and honours principalType", () => {
    const none = grants(deploy({ principalId: "" }));
    expect(none).toHaveLength(4);
    expect(none.every((g) => g.principal instanceof Runtime)).toBe(true);
    const group = grants(deploy({ principalType: "Group" })).filter((g) => g.principal === USER_ID);
    expect(group.map((g) => g.principalType)).toEqual(["Group", "Group"]);
  });

  it("names every assignment with guid() of its scope, principal and role, all distinct", () => {
    const d = deploy();
    const assignments = ofType(d, "Microsoft.Authorization/roleAssignments");
    for (const a of assignments) {
      expect(a.raw.name, a.name).toMatch(/^\[guid\(/);
      expect(a.name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(a.id).toBe(
        `${str(a.body.scope ?? null)}/providers/Microsoft.Authorization/roleAssignments/${a.name}`,
      );
    }
    expect(new Set(assignments.map((a) => a.name)).size).toBe(assignments.length);
  });

  it("scopes no assignment to a subscription or resource group, and grants no broad role", () => {
    const d = deploy();
    const { rg } = ids(d);
    for (const g of grants(d)) {
      expect(g.scope.startsWith(`${rg}/providers/`), g.scope).toBe(true);
      expect(g.scope.split("/providers/")).toHaveLength(2);
    }
    for (const [name, id] of Object.entries(FORBIDDEN_ROLES)) {
      expect(templateText.toLowerCase(), name).not.toContain(id);
    }
    // Storage Table Data roles are not needed: the Flex Consumption host keeps its state in blobs.
    expect(templateText).not.toContain("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3");
    expect(templateText).not.toContain("76199698-9eea-4c19-bc75-cec21354c6b6");
  });
});

describe("network isolation", () => {
  it("is off by default: no network resources, public endpoints on", () => {
    const d = deploy();
    expect(d.resources.filter((r) => r.type.startsWith("Microsoft.Network/"))).toEqual([]);
    expect(props(single(d, "Microsoft.Storage/storageAccounts")).networkAcls).toEqual({
      bypass: "AzureServices",
      defaultAction: "Allow",
    });
    expect(props(single(d, "Microsoft.KeyVault/vaults")).publicNetworkAccess).toBe("Enabled");
  });

  it("adds a VNet, integrates the app, and reaches blob, queue and vault through private endpoints", () => {
    const d = deploy({ enableNetworkIsolation: true, virtualNetworkAddressPrefix: "10.7.0.0/16" });
    const { storage, vault } = ids(d);

    const vnet = single(d, "Microsoft.Network/virtualNetworks");
    expect(at(props(vnet), "addressSpace", "addressPrefixes")).toEqual(["10.7.0.0/16"]);
    const subnets = at(props(vnet), "subnets");
    expect(subnets).toMatchObject([
      {
        name: "snet-function-app",
        properties: {
          addressPrefix: "10.7.0.0/24",
          delegations: [{ properties: { serviceName: "Microsoft.App/environments" } }],
        },
      },
      { name: "snet-private-endpoints", properties: { addressPrefix: "10.7.1.0/24" } },
    ]);
    const appSubnet = `${vnet.id}/subnets/snet-function-app`;
    const endpointSubnet = `${vnet.id}/subnets/snet-private-endpoints`;
    expect(props(single(d, "Microsoft.Web/sites")).virtualNetworkSubnetId).toBe(appSubnet);

    const zones = ofType(d, "Microsoft.Network/privateDnsZones");
    expect(zones.map((z) => z.name).sort()).toEqual([
      "privatelink.blob.core.windows.net",
      "privatelink.queue.core.windows.net",
      "privatelink.vaultcore.azure.net",
    ]);
    for (const z of zones) expect(z.body.location).toBe("global");
    const links = ofType(d, "Microsoft.Network/privateDnsZones/virtualNetworkLinks");
    expect(links.map((l) => l.name.split("/")[0]).sort()).toEqual(zones.map((z) => z.name).sort());
    for (const l of links)
      expect(props(l)).toEqual({ registrationEnabled: false, virtualNetwork: { id: vnet.id } });

    const endpoints = ofType(d, "Microsoft.Network/privateEndpoints");
    const targets = endpoints.map((e) => ({
      subnet: at(props(e), "subnet", "id"),
      service: at(props(e), "privateLinkServiceConnections", 0, "properties", "privateLinkServiceId"),
      groups: at(props(e), "privateLinkServiceConnections", 0, "properties", "groupIds"),
    }));
    expect(targets).toEqual([
      { subnet: endpointSubnet, service: storage, groups: ["blob"] },
      { subnet: endpointSubnet, service: storage, groups: ["queue"] },
      { subnet: endpointSubnet, service: vault, groups: ["vault"] },
    ]);

    // Each endpoint registers its address in the zone of its service.
    const zoneOf = {
      blob: "privatelink.blob.core.windows.net",
      queue: "privatelink.queue.core.windows.net",
      vault: "privatelink.vaultcore.azure.net",
    };
    const groups = ofType(d, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups");
    expect(groups.map((g) => g.name)).toEqual(endpoints.map((e) => `${e.name}/default`));
    groups.forEach((g, i) => {
      const group = str(at(targets[i]?.groups ?? null, 0)) as keyof typeof zoneOf;
      expect(at(props(g), "privateDnsZoneConfigs", 0, "properties", "privateDnsZoneId")).toBe(
        zones.find((z) => z.name === zoneOf[group])?.id,
      );
    });

    for (const type of ["Microsoft.Storage/storageAccounts", "Microsoft.KeyVault/vaults"]) {
      const p = props(single(d, type));
      expect(p.publicNetworkAccess, type).toBe("Disabled");
      expect(p.networkAcls, type).toEqual({ bypass: "AzureServices", defaultAction: "Deny" });
    }
  });
});

describe("outputs", () => {
  it("gives azd and the CLI what they need, named as environment variables", () => {
    const d = deploy();
    const { identity } = ids(d);
    const storageName = single(d, "Microsoft.Storage/storageAccounts").name;
    const vaultName = single(d, "Microsoft.KeyVault/vaults").name;
    const site = single(d, "Microsoft.Web/sites");
    for (const name of Object.keys(d.outputs)) expect(name).toMatch(/^[A-Z][A-Z0-9_]*$/);
    expect(d.outputs).toEqual({
      AZURE_LOCATION: LOCATION,
      AZURE_TENANT_ID: TENANT_ID,
      AZURE_RESOURCE_GROUP: `rg-${ENVIRONMENT}`,
      AZURE_FUNCTION_APP_NAME: site.name,
      FUNCTION_APP_URL: `https://${runtime(site.id, "defaultHostName").toString()}`,
      AZURE_STORAGE_ACCOUNT_NAME: storageName,
      EXPORT_STORAGE_ACCOUNT_URL: `https://${storageName}.blob.core.windows.net`,
      EXPORT_CONTAINER: "referrals",
      AZURE_KEY_VAULT_NAME: vaultName,
      KEY_VAULT_URL: runtime(single(d, "Microsoft.KeyVault/vaults").id, "vaultUri"),
      TOKEN_CACHE_SECRET_NAME: "partner-center-token-cache",
      PARTNER_CENTER_CLOUD: "global",
      PARTNER_CENTER_CLIENT_ID: CLIENT_ID,
      PARTNER_CENTER_CREDENTIAL: "managed-identity",
      MANAGED_IDENTITY_CLIENT_ID: runtime(identity, "clientId"),
      MANAGED_IDENTITY_PRINCIPAL_ID: runtime(identity, "principalId"),
      FEDERATED_CREDENTIAL_ISSUER: `https://login.microsoftonline.com/${TENANT_ID}/v2.0`,
    });
  });
});

describe("azure.yaml", () => {
  const text = (): string => readFileSync(join(root, "azure.yaml"), "utf8");

  it("provisions infra/main.bicep and deploys the app as the Functions service api", () => {
    const yaml = text();
    expect(yaml).toMatch(/^name: referrals-export$/m);
    expect(yaml).toMatch(/^infra:\n {2}provider: bicep\n {2}path: infra\n {2}module: main$/m);
    expect(yaml).toMatch(/^services:\n {2}api:\n {4}project: \.\n {4}language: ts\n {4}host: function$/m);
    // azd finds the function app by this tag.
    expect(at(single(deploy(), "Microsoft.Web/sites").body, "tags", "azd-service-name")).toBe("api");
  });

  it("prints the consent command after provisioning, using only values azd has", () => {
    const yaml = text();
    const hooks = yaml.slice(yaml.indexOf("\nhooks:"));
    expect(hooks).toMatch(/^ {2}postprovision:$/m);
    expect(hooks.match(/npx referrals-export auth login --device-code/g)).toHaveLength(2); // posix and windows
    const used = new Set<string>();
    for (const m of hooks.matchAll(/\$(?:env:)?\{?([A-Z][A-Z0-9_]+)/g)) used.add(m[1]!);
    const outputs = Object.keys(template.outputs ?? {});
    // Everything else comes from Bicep outputs, which azd stores under the same names.
    expect([...used].filter((name) => !outputs.includes(name)).sort()).toEqual(["AZURE_ENV_NAME"]);
    for (const name of [
      "KEY_VAULT_URL",
      "TOKEN_CACHE_SECRET_NAME",
      "AZURE_TENANT_ID",
      "PARTNER_CENTER_CLIENT_ID",
      "PARTNER_CENTER_CLOUD",
      "EXPORT_STORAGE_ACCOUNT_URL",
    ]) {
      expect(used, name).toContain(name);
    }
  });
});

describe("resource types", () => {
  it("lists exactly the resource types the template can deploy (modules included)", () => {
    const types = new Set(
      allTemplateResources(template)
        .filter((r) => r.type !== "Microsoft.Resources/deployments" && r.existing !== true)
        .map((r) => r.type),
    );
    expect([...types].sort()).toEqual([...COVERED_TYPES].sort());
  });

  // Runs last (tests in a file run in order): every deployed type was asserted on above.
  it("has a test touching every resource type", () => {
    expect([...touchedTypes].sort()).toEqual([...COVERED_TYPES].sort());
  });
});
