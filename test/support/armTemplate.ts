/**
 * Evaluator of the compiled infrastructure template (.tools/infra/main.json, built from infra/*.bicep
 * by scripts/infra-build.sh) with concrete parameter values: a small evaluator for ARM template
 * expressions resolves parameters, variables, module parameters and outputs, copy loops and resource
 * ids, so tests can assert on the values Azure would receive. What only Azure knows at deployment
 * time (a property of a deployed resource, such as the identity's client id) stays symbolic as a
 * Runtime value: reference(<resource id>).<property>.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
export const root = resolve(import.meta.dirname, "../..");
export const compiledTemplate = join(root, ".tools/infra/main.json");
export const compiledParameters = join(root, ".tools/infra/main.parameters.json");

// ---------------------------------------------------------------------------------------------
// JSON and values
// ---------------------------------------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = Record<string, Json>;

/** A value only known once Azure has deployed the resource, e.g. reference(<id>).clientId. */
export class Runtime {
  constructor(readonly expr: string) {}
  member(name: string): Runtime {
    return new Runtime(`${this.expr}.${name}`);
  }
  toString(): string {
    return `«${this.expr}»`;
  }
}

export type Value = null | boolean | number | string | Runtime | Value[] | { [key: string]: Value };
export type ValueObject = Record<string, Value>;

export function isObject(v: Value | undefined): v is ValueObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Runtime);
}

export function isJsonObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function str(v: Value): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (v === null) return "";
  if (v instanceof Runtime) return v.toString();
  return JSON.stringify(v);
}

export function runtime(resourceId: string, ...properties: string[]): Runtime {
  return new Runtime([`reference(${resourceId})`, ...properties].join("."));
}

// ---------------------------------------------------------------------------------------------
// ARM template shapes (only what the evaluator reads)
// ---------------------------------------------------------------------------------------------

export interface ArmParameter {
  type: string;
  defaultValue?: Json;
  allowedValues?: Json[];
  minLength?: number;
  maxLength?: number;
  minValue?: number;
  maxValue?: number;
  metadata?: { description?: string };
}

export interface ArmResource {
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

export interface ArmTemplate {
  languageVersion?: string;
  parameters?: Record<string, ArmParameter>;
  variables?: JsonObject;
  resources: ArmResource[] | Record<string, ArmResource>;
  outputs?: Record<
    string,
    { type: string; value: Json; condition?: Json; metadata?: { description?: string } }
  >;
}

export function resourceEntries(template: ArmTemplate): [string, ArmResource][] {
  return Array.isArray(template.resources)
    ? template.resources.map((r, i) => [`#${i}`, r])
    : Object.entries(template.resources);
}

export function nestedTemplate(resource: ArmResource): ArmTemplate | undefined {
  const t = resource.properties?.template;
  return isJsonObject(t) ? (t as unknown as ArmTemplate) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Expression parser: [func(args).member[index]] with 'string' literals and numbers
// ---------------------------------------------------------------------------------------------

export type Node =
  | { kind: "literal"; value: string | number }
  | { kind: "call"; name: string; args: Node[] }
  | { kind: "member"; target: Node; name: string }
  | { kind: "index"; target: Node; index: Node };

export function parseExpression(src: string): Node {
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

export const SUBSCRIPTION_ID = "11111111-1111-1111-1111-111111111111";
export const TENANT_ID = "22222222-2222-2222-2222-222222222222";

export const azureCloud: ValueObject = {
  name: "AzureCloud",
  suffixes: { storage: "core.windows.net", keyvaultDns: ".vault.azure.net" },
  authentication: { loginEndpoint: "https://login.microsoftonline.com/" },
};

export function hash(algorithm: string, parts: Value[]): Buffer {
  return createHash(algorithm).update(parts.map(str).join("|")).digest();
}

/** Same shape as ARM's uniqueString (13 lowercase letters and digits), not the same values. */
export function uniqueString(parts: Value[]): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  return [...hash("sha256", parts).subarray(0, 13)].map((b) => alphabet.charAt(b % 32)).join("");
}

export function guid(parts: Value[]): string {
  const h = hash("sha1", parts).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function cidrSubnet(prefix: string, bits: number, index: number): string {
  const [address = "", size = ""] = prefix.split("/");
  const base = address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const start = base + index * 2 ** (32 - bits);
  if (bits < Number(size)) throw new Error(`cidrSubnet: /${bits} is larger than ${prefix}`);
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(start / 2 ** shift) % 256);
  return `${octets.join(".")}/${bits}`;
}

export function armResourceId(prefix: string, type: string, names: string[]): string {
  const [namespace = "", ...types] = type.split("/");
  if (types.length !== names.length) throw new Error(`resource id: ${type} needs ${types.length} names`);
  return `${prefix}/providers/${namespace}/${types.flatMap((t, i) => [t, names[i] ?? ""]).join("/")}`;
}

export interface DeployedResource {
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

export interface Scope {
  resourceGroup?: string;
}

/** One template being evaluated with given parameter values (the main template or a module). */
export class TemplateContext {
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
      case "greater":
        return Number(arg(0)) > Number(arg(1));
      case "greaterorequals":
        return Number(arg(0)) >= Number(arg(1));
      case "less":
        return Number(arg(0)) < Number(arg(1));
      case "lessorequals":
        return Number(arg(0)) <= Number(arg(1));
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
      case "split": {
        const separators = Array.isArray(arg(1)) ? (arg(1) as Value[]).map(str) : [str(arg(1))];
        return separators.reduce<string[]>((parts, sep) => parts.flatMap((p) => p.split(sep)), [str(arg(0))]);
      }
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
          if (isJsonObject(wrapper) && wrapper.value !== undefined) {
            given[name] = this.evaluate(wrapper.value);
          } else if (typeof wrapper === "string") {
            // A conditional value compiles to one expression yielding the whole { value } wrapper.
            const evaluated = this.evaluate(wrapper);
            if (isObject(evaluated) && evaluated.value !== undefined) given[name] = evaluated.value;
          }
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

export function member(target: Value, name: string, where: string): Value {
  if (target instanceof Runtime) return target.member(name);
  if (isObject(target) && name in target) return target[name] ?? null;
  throw new Error(`${where}: no property '${name}' on ${str(target)}`);
}

// ---------------------------------------------------------------------------------------------
// The compiled template
// ---------------------------------------------------------------------------------------------

function newestInfraSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestInfraSource(path));
    else if (/\.(bicep|bicepparam|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

export interface CompiledTemplate {
  template: ArmTemplate;
  /** main.json as compiled, for assertions on the text. */
  text: string;
}

/**
 * Loads .tools/infra/main.json, compiling infra/ first when the compiled template or parameters are
 * missing or older than a source file. Compiling can take minutes: call it from beforeAll with a
 * long timeout.
 */
export function loadCompiledTemplate(): CompiledTemplate {
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
  const text = readFileSync(compiledTemplate, "utf8");
  return { template: JSON.parse(text) as ArmTemplate, text };
}

// Parameter values of the example deployment.
export const ENVIRONMENT = "contoso-prod";
export const LOCATION = "westeurope";
export const CLIENT_ID = "33333333-3333-3333-3333-333333333333";
export const USER_ID = "44444444-4444-4444-4444-444444444444";

export interface Deployment {
  ctx: TemplateContext;
  resources: DeployedResource[];
  outputs: ValueObject;
}

/** Evaluates the template as deployed with the example values, overridden by `parameters`. */
export function deployTemplate(template: ArmTemplate, parameters: Record<string, Value> = {}): Deployment {
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

export function props(r: DeployedResource): ValueObject {
  const p = r.body.properties;
  if (!isObject(p)) throw new Error(`${r.type} ${r.name} has no properties`);
  return p;
}

export function at(v: Value | undefined, ...path: (string | number)[]): Value {
  let cur: Value = v ?? null;
  for (const key of path) {
    if (Array.isArray(cur) && typeof key === "number") cur = cur[key] ?? null;
    else if (isObject(cur)) cur = cur[String(key)] ?? null;
    else return null;
  }
  return cur;
}

/** Every resource template in main.json, including those of nested deployments (modules). */
export function allTemplateResources(t: ArmTemplate): ArmResource[] {
  return resourceEntries(t).flatMap(([, r]) => {
    const nested = nestedTemplate(r);
    return nested ? [r, ...allTemplateResources(nested)] : [r];
  });
}

export function allTemplates(t: ArmTemplate): ArmTemplate[] {
  return [
    t,
    ...resourceEntries(t).flatMap(([, r]) => (nestedTemplate(r) ? allTemplates(nestedTemplate(r)!) : [])),
  ];
}

/** The id ARM gives a built-in role definition at the example subscription. */
export function roleDefinition(id: string): string {
  return `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${id}`;
}
