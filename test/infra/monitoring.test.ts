/**
 * Monitoring in the compiled template (.tools/infra/main.json): the resource logs of the vault and
 * the storage account, the action group, the alert rules and the runs workbook. Also checks every
 * query the rules and the workbook run (infra/queries/*.kql, infra/workbooks/*.workbook.json)
 * against the telemetry contract (src/logging/telemetryEvents.ts), so renaming an event or a field
 * breaks this test instead of silently muting an alert.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { LOGIN_COMMAND } from "../../src/auth/errors.js";
import {
  CONSENT_EVENT,
  CONSENT_EVENT_FIELDS,
  RUN_EVENT,
  RUN_EVENT_FIELDS,
} from "../../src/logging/telemetryEvents.js";
import { FAILURE_REASONS, RUN_STATUSES } from "../../src/runs/runStore.js";
import {
  type ArmTemplate,
  type DeployedResource,
  type Deployment,
  type Value,
  LOCATION,
  TemplateContext,
  at,
  compiledParameters,
  compiledTemplate,
  deployTemplate,
  loadCompiledTemplate,
  props,
  root,
  str,
} from "../support/armTemplate.js";

const queriesDir = join(root, "infra/queries");
const workbookFile = join(root, "infra/workbooks/runs.workbook.json");

let template: ArmTemplate;

beforeAll(() => {
  // The loader recompiles when a .bicep or .json file is newer than main.json; a query file is
  // compiled into the template too.
  const compiledAt = existsSync(compiledTemplate) ? statSync(compiledTemplate).mtimeMs : 0;
  if (readdirSync(queriesDir).some((f) => statSync(join(queriesDir, f)).mtimeMs > compiledAt)) {
    execFileSync("bash", [join(root, "scripts/infra-build.sh")], {
      cwd: root,
      stdio: "pipe",
      timeout: 300_000,
    });
  }
  ({ template } = loadCompiledTemplate());
}, 300_000);

function deploy(parameters: Record<string, Value> = {}): Deployment {
  return deployTemplate(template, parameters);
}

function ofType(d: Deployment, type: string): DeployedResource[] {
  return d.resources.filter((r) => r.type === type && !r.existing);
}

function single(d: Deployment, type: string): DeployedResource {
  const found = ofType(d, type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
}

// ---------------------------------------------------------------------------------------------
// The queries in the repository
// ---------------------------------------------------------------------------------------------

function queryFile(name: string): string {
  return readFileSync(join(queriesDir, name), "utf8");
}

/** Every alert query file, by file name. */
function alertQueries(): Map<string, string> {
  const files = readdirSync(queriesDir).filter((f) => f.endsWith(".kql"));
  return new Map(files.map((f) => [f, queryFile(f)]));
}

interface WorkbookQueryItem {
  name: string;
  query: string;
  visualization: string;
  timeContextFromParameter?: string;
}

/** The query items of a workbook definition (type 3), groups (type 12) included. */
function workbookQueries(definition: unknown): WorkbookQueryItem[] {
  const found: WorkbookQueryItem[] = [];
  const visit = (items: unknown): void => {
    if (!Array.isArray(items)) return;
    for (const item of items as { type?: number; name?: string; content?: Record<string, unknown> }[]) {
      if (item.type === 3 && item.content) {
        found.push({
          name: String(item.name),
          query: String(item.content.query),
          visualization: String(item.content.visualization),
          timeContextFromParameter: item.content.timeContextFromParameter as string | undefined,
        });
      }
      if (item.type === 12) visit(item.content?.items);
    }
  };
  visit((definition as { items?: unknown }).items);
  return found;
}

/** Every query the deployment runs against the telemetry: the alert files and the workbook's. */
function allQueries(): Map<string, string> {
  const queries = alertQueries();
  const workbook = JSON.parse(readFileSync(workbookFile, "utf8")) as unknown;
  for (const item of workbookQueries(workbook)) queries.set(`runs.workbook.json#${item.name}`, item.query);
  return queries;
}

/** The query without its `//` comments (string literals kept). */
function withoutComments(kql: string): string {
  let out = "";
  let quote: string | undefined;
  for (let i = 0; i < kql.length; i++) {
    const c = kql.charAt(i);
    if (quote) {
      out += c;
      if (c === "\\") {
        out += kql.charAt(++i);
      } else if (c === quote) {
        quote = undefined;
      }
    } else if (c === '"' || c === "'") {
      quote = c;
      out += c;
    } else if (c === "/" && kql.charAt(i + 1) === "/") {
      while (i < kql.length && kql.charAt(i) !== "\n") i++;
      out += "\n";
    } else {
      out += c;
    }
  }
  return out;
}

/** The literal values the contract allows for the fields a query compares with a string. */
const FIELD_VALUES: Record<string, readonly string[]> = {
  status: RUN_STATUSES,
  // A succeeded run has no reason: "".
  reason: ["", ...FAILURE_REASONS],
  // consent.state's `state`, as telemetryEvents.ts documents it.
  state: ["ok", "consent_required", "error"],
};

const EVENT_FIELDS: Record<string, readonly string[]> = {
  [RUN_EVENT]: RUN_EVENT_FIELDS,
  [CONSENT_EVENT]: CONSENT_EVENT_FIELDS,
};

/**
 * What a query asks of the telemetry contract: the events it selects (`Properties.event == "..."`)
 * and the Properties fields it reads. Returns the problems found; none when the query holds to the
 * contract.
 */
function contractProblems(kql: string): string[] {
  const code = withoutComments(kql);
  const problems: string[] = [];
  if (!/^\s*AppTraces\b/.test(code)) problems.push("does not start from AppTraces");

  // Every use of Properties names one field: Properties.x or Properties["x"].
  const fields = new Set<string>();
  for (const m of code.matchAll(/\bProperties\b(?:\s*\.\s*([A-Za-z_]\w*)|\s*\[\s*(["'])(.*?)\2\s*\])?/g)) {
    const field = m[1] ?? m[3];
    if (field === undefined) problems.push(`uses Properties without naming a field at ${m.index}`);
    else fields.add(field);
  }

  // The events a query selects are the literals the event field equals. Any other test of the
  // field (in, !=, has, ...) would hide an event name from this check, so it is refused; reading
  // the field into a column is fine.
  const events = new Set<string>();
  for (const m of code.matchAll(/\bProperties\s*(?:\.\s*event\b|\[\s*["']event["']\s*\])\s*\)?/g)) {
    const rest = code.slice(m.index + m[0].length);
    const equality = /^\s*(?:==|=~)\s*(["'])(.*?)\1/.exec(rest);
    if (equality) events.add(equality[2]!);
    else if (!/^\s*(?:,|\||\)|$)/.test(rest)) {
      problems.push(`tests the event field with '${rest.trim().split(/\s+/)[0]}' instead of == "name"`);
    }
  }
  if (events.size === 0) problems.push("selects no event");

  const allowed = new Set<string>();
  for (const event of events) {
    const eventFields = EVENT_FIELDS[event];
    if (!eventFields) problems.push(`event "${event}" is neither ${RUN_EVENT} nor ${CONSENT_EVENT}`);
    else for (const field of eventFields) allowed.add(field);
  }
  for (const field of events.size === 0 ? [] : fields) {
    if (!allowed.has(field)) {
      problems.push(`field "${field}" is not a field of ${[...events].map((e) => `"${e}"`).join(" or ")}`);
    }
  }

  // Literal values compared with status, reason or state (as Properties.x or as a column of that name).
  for (const m of code.matchAll(
    /\b(?:Properties\s*\.\s*)?(status|reason|state)\b\s*\)?\s*(?:==|=~|!=)\s*(["'])(.*?)\2/g,
  )) {
    const [, field = "", , value = ""] = m;
    if (!FIELD_VALUES[field]!.includes(value)) problems.push(`${field} is never "${value}"`);
  }
  return problems;
}

describe("queries against the telemetry contract", () => {
  it("finds the alert queries and the workbook's", () => {
    expect([...alertQueries().keys()].sort()).toEqual([
      "consent-required.kql",
      "failed-runs.kql",
      "stale-profiles.kql",
    ]);
    expect(workbookQueries(JSON.parse(readFileSync(workbookFile, "utf8"))).map((q) => q.name)).toEqual([
      "runs-per-day",
      "rows-and-duration",
      "failures-by-reason",
      "consent-age",
      "consent-now",
    ]);
  });

  it("uses only the contract's events, their fields and their documented values", () => {
    const problems = Object.fromEntries(
      [...allQueries()]
        .map(([name, query]): [string, string[]] => [name, contractProblems(query)])
        .filter(([, found]) => found.length > 0),
    );
    expect(problems).toEqual({});
  });

  it("selects the events each alert is about", () => {
    const selected = (file: string): string[] =>
      [...withoutComments(queryFile(file)).matchAll(/Properties\.event\)\s*==\s*"([^"]*)"/g)].map(
        (m) => m[1]!,
      );
    expect(selected("failed-runs.kql")).toEqual([RUN_EVENT]);
    expect(selected("consent-required.kql").sort()).toEqual([CONSENT_EVENT, RUN_EVENT].sort());
    expect(selected("stale-profiles.kql")).toEqual([RUN_EVENT]);
    expect(queryFile("consent-required.kql")).toMatch(/tostring\(Properties\.reason\) == "consent_required"/);
    expect(queryFile("consent-required.kql")).toMatch(/tostring\(Properties\.state\) == "consent_required"/);
    // Staleness: scheduled profiles only, 26 hours since the last success.
    expect(queryFile("stale-profiles.kql")).toMatch(/where tobool\(Properties\.scheduled\)/);
    expect(queryFile("stale-profiles.kql")).toMatch(/lastSucceeded < ago\(26h\)/);
  });

  it("reports a renamed event, an unknown field, an undocumented value and an unnamed Properties use", () => {
    const failed = queryFile("failed-runs.kql");
    expect(contractProblems(failed.replace("Properties.runId", "Properties.runID"))).toEqual([
      'field "runID" is not a field of "export.run"',
    ]);
    expect(contractProblems(failed.replace('"export.run"', '"export.finished"'))).toEqual([
      'event "export.finished" is neither export.run nor consent.state',
      'field "event" is not a field of "export.finished"',
      'field "status" is not a field of "export.finished"',
      'field "profile" is not a field of "export.finished"',
      'field "reason" is not a field of "export.finished"',
      'field "trigger" is not a field of "export.finished"',
      'field "runId" is not a field of "export.finished"',
    ]);
    expect(contractProblems(failed.replace('== "failed"', '== "failure"'))).toEqual([
      'status is never "failure"',
    ]);
    // A consent field read from a run event.
    expect(contractProblems(failed.replace("Properties.trigger", "Properties.account"))).toEqual([
      'field "account" is not a field of "export.run"',
    ]);
    expect(contractProblems(`${failed}\n| extend p = Properties`)).toEqual([
      expect.stringMatching(/^uses Properties without naming a field/),
    ]);
    expect(contractProblems(failed.replace('== "export.run"', 'in ("export.run")'))).toEqual([
      "tests the event field with 'in' instead of == \"name\"",
      "selects no event",
    ]);
    expect(contractProblems('AppTraces\n| where tostring(Properties["event"]) == "consent.state"')).toEqual(
      [],
    );
    // Comments are not code.
    expect(contractProblems(`// Properties.nothing\n${failed}`)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The compiled template
// ---------------------------------------------------------------------------------------------

function workspaceId(d: Deployment): string {
  return single(d, "Microsoft.OperationalInsights/workspaces").id;
}

function actionGroup(d: Deployment): DeployedResource {
  return single(d, "Microsoft.Insights/actionGroups");
}

/** The alert rule whose query is the file's text (exactly one). */
function ruleFor(d: Deployment, file: string): DeployedResource {
  const text = queryFile(file);
  const rules = ofType(d, "Microsoft.Insights/scheduledQueryRules").filter(
    (r) => at(props(r), "criteria", "allOf", 0, "query") === text,
  );
  expect(rules, `alert rule running ${file}`).toHaveLength(1);
  return rules[0]!;
}

/** ISO 8601 durations of the forms the rules use (PT15M, PT1H, P2D), in minutes. */
function minutes(duration: Value): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(str(duration));
  if (!m) throw new Error(`not an ISO 8601 duration: ${str(duration)}`);
  return Number(m[1] ?? 0) * 1440 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

describe("diagnostic settings", () => {
  it("send the vault's AuditEvent and the blob and queue services' read, write and delete logs to the workspace", () => {
    const d = deploy();
    const storage = single(d, "Microsoft.Storage/storageAccounts").id;
    const vault = single(d, "Microsoft.KeyVault/vaults").id;
    const settings = ofType(d, "Microsoft.Insights/diagnosticSettings");
    const byScope = new Map(settings.map((s) => [str(s.body.scope ?? null), s]));
    expect([...byScope.keys()].sort()).toEqual(
      [vault, `${storage}/blobServices/default`, `${storage}/queueServices/default`].sort(),
    );
    const categories = (s: DeployedResource | undefined): Value =>
      s
        ? (at(props(s), "logs") as Value[]).map((l) => `${str(at(l, "category"))}:${str(at(l, "enabled"))}`)
        : null;
    expect(categories(byScope.get(vault))).toEqual(["AuditEvent:true"]);
    for (const service of ["blobServices", "queueServices"]) {
      expect(categories(byScope.get(`${storage}/${service}/default`)), service).toEqual([
        "StorageRead:true",
        "StorageWrite:true",
        "StorageDelete:true",
      ]);
    }
    for (const s of settings) {
      expect(props(s).workspaceId, s.id).toBe(workspaceId(d));
      expect(
        s.id.startsWith(`${str(s.body.scope ?? null)}/providers/Microsoft.Insights/diagnosticSettings/`),
      ).toBe(true);
      // Nothing goes anywhere but the workspace.
      expect(Object.keys(props(s)).sort(), s.id).toEqual(["logs", "workspaceId"]);
    }
  });

  it("are deployed with network isolation too", () => {
    expect(
      ofType(deploy({ enableNetworkIsolation: true }), "Microsoft.Insights/diagnosticSettings"),
    ).toHaveLength(3);
  });
});

describe("action group", () => {
  it("has no receiver without alertEmail, and e-mails alertEmail when it is set", () => {
    const none = actionGroup(deploy());
    expect(none.body.location).toBe("global");
    expect(props(none)).toMatchObject({ enabled: true, emailReceivers: [] });
    expect(str(props(none).groupShortName ?? null).length).toBeLessThanOrEqual(12);

    const withEmail = actionGroup(deploy({ alertEmail: "ops@contoso.example" }));
    expect(props(withEmail).emailReceivers).toEqual([
      { name: "admin", emailAddress: "ops@contoso.example", useCommonAlertSchema: true },
    ]);
    expect(withEmail.id).toBe(none.id);
  });

  it("takes alertEmail from ALERT_EMAIL in main.bicepparam, empty by default", () => {
    expect(template.parameters?.alertEmail).toMatchObject({ type: "string", defaultValue: "" });
    const source = readFileSync(join(root, "infra/main.bicepparam"), "utf8");
    expect(source).toMatch(/^param alertEmail = readEnvironmentVariable\('ALERT_EMAIL', ''\)$/m);
    const compiled = JSON.parse(readFileSync(compiledParameters, "utf8")) as {
      parameters: Record<string, { value?: unknown }>;
    };
    expect(compiled.parameters).toHaveProperty("alertEmail");
  });
});

describe("alert rules", () => {
  it("run exactly the query files, on the workspace, notifying the action group", () => {
    const d = deploy();
    const rules = ofType(d, "Microsoft.Insights/scheduledQueryRules");
    expect(rules).toHaveLength(alertQueries().size);
    for (const file of alertQueries().keys()) {
      const rule = ruleFor(d, file);
      const p = props(rule);
      expect(rule.body.kind, file).toBe("LogAlert");
      expect(rule.body.location, file).toBe(LOCATION);
      expect(p.scopes, file).toEqual([workspaceId(d)]);
      expect(at(p, "actions", "actionGroups"), file).toEqual([actionGroup(d).id]);
      expect(p.enabled, file).toBe(true);
      // Stateful: one notification when it fires, one when it resolves.
      expect(p.autoMitigate, file).toBe(true);
      expect(at(p, "criteria", "allOf"), file).toHaveLength(1);
      // Fires on any row: a count above zero, in one evaluation.
      expect(at(p, "criteria", "allOf", 0), file).toMatchObject({
        timeAggregation: "Count",
        operator: "GreaterThan",
        threshold: 0,
        failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 },
      });
      expect(minutes(p.evaluationFrequency ?? null), file).toBeLessThanOrEqual(minutes(p.windowSize ?? null));
      expect(str(p.description ?? null), file).toMatch(/\S/);
    }
  });

  it("a failed run: window 30 min every 15 min, severity 2, one alert per profile and reason", () => {
    const p = props(ruleFor(deploy(), "failed-runs.kql"));
    expect(p).toMatchObject({ severity: 2, evaluationFrequency: "PT15M", windowSize: "PT30M" });
    expect(p).not.toHaveProperty("overrideQueryTimeRange");
    expect(at(p, "criteria", "allOf", 0, "dimensions")).toEqual([
      { name: "profile", operator: "Include", values: ["*"] },
      { name: "reason", operator: "Include", values: ["*"] },
    ]);
  });

  it("consent required: window 30 min every 15 min, severity 1, naming the command that fixes it", () => {
    const p = props(ruleFor(deploy(), "consent-required.kql"));
    expect(p).toMatchObject({ severity: 1, evaluationFrequency: "PT15M", windowSize: "PT30M" });
    expect(str(p.description ?? null)).toContain(LOGIN_COMMAND);
    expect(at(p, "actions", "customProperties", "fix")).toBe(LOGIN_COMMAND);
    expect(queryFile("consent-required.kql")).toContain(LOGIN_COMMAND);
  });

  it("a stale scheduled profile: hourly over the last two days, severity 2, one alert per profile", () => {
    const p = props(ruleFor(deploy(), "stale-profiles.kql"));
    expect(p).toMatchObject({
      severity: 2,
      evaluationFrequency: "PT1H",
      windowSize: "PT1H",
      overrideQueryTimeRange: "P2D",
    });
    // The time range a log search alert may query is two days at most; it must reach well past
    // the 26 hours the query compares with, so a profile that last succeeded then is still seen.
    const range = minutes(p.overrideQueryTimeRange ?? null);
    expect(range).toBeLessThanOrEqual(2 * 1440);
    expect(range).toBeGreaterThan(26 * 60);
    expect(at(p, "criteria", "allOf", 0, "dimensions")).toEqual([
      { name: "profile", operator: "Include", values: ["*"] },
    ]);
  });
});

describe("workbook", () => {
  function deployedDefinition(d: Deployment): Record<string, unknown> {
    const serialized = props(single(d, "Microsoft.Insights/workbooks")).serializedData;
    expect(typeof serialized).toBe("string");
    return JSON.parse(str(serialized ?? null)) as Record<string, unknown>;
  }

  it("is a shared workbook of the workspace, with a stable name", () => {
    const d = deploy();
    const workbook = single(d, "Microsoft.Insights/workbooks");
    expect(workbook.body.kind).toBe("shared");
    expect(workbook.body.location).toBe(LOCATION);
    expect(workbook.name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(single(deploy(), "Microsoft.Insights/workbooks").name).toBe(workbook.name);
    expect(props(workbook)).toMatchObject({ category: "workbook", sourceId: workspaceId(d) });
    expect(str(props(workbook).displayName ?? null)).toMatch(/\S/);
  });

  it("deploys the repository's definition, its queries running on the workspace", () => {
    const d = deploy();
    const deployed = deployedDefinition(d);
    const file = readFileSync(workbookFile, "utf8");
    expect(deployed).toEqual(JSON.parse(file.replace("__WORKSPACE_RESOURCE_ID__", workspaceId(d))));
    expect(deployed.version).toBe("Notebook/1.0");
    expect(deployed.fallbackResourceIds).toEqual([workspaceId(d)]);
    expect(JSON.stringify(deployed)).not.toContain("__WORKSPACE_RESOURCE_ID__");
  });

  it("holds the four views: runs per day by status, rows and duration per profile, failures by reason, consent age", () => {
    const items = new Map(workbookQueries(deployedDefinition(deploy())).map((q) => [q.name, q]));
    const view = (name: string): WorkbookQueryItem => {
      const item = items.get(name);
      if (!item) throw new Error(`the workbook has no query item '${name}'`);
      // Each view follows the workbook's time range.
      expect(item.timeContextFromParameter, name).toBe("TimeRange");
      return item;
    };
    const runsPerDay = view("runs-per-day");
    expect(runsPerDay.visualization).toBe("barchart");
    expect(runsPerDay.query).toMatch(
      /by day = bin\(TimeGenerated, 1d\), status = tostring\(Properties\.status\)/,
    );

    const rowsAndDuration = view("rows-and-duration");
    expect(rowsAndDuration.visualization).toBe("table");
    expect(rowsAndDuration.query).toContain("Properties.rows");
    expect(rowsAndDuration.query).toContain("Properties.durationMs");
    expect(rowsAndDuration.query).toMatch(/by profile\b/);

    const failures = view("failures-by-reason");
    expect(failures.query).toContain('tostring(Properties.status) == "failed"');
    expect(failures.query).toMatch(/by reason\b/);

    const consent = view("consent-age");
    expect(consent.visualization).toBe("timechart");
    expect(consent.query).toContain(`tostring(Properties.event) == "${CONSENT_EVENT}"`);
    expect(consent.query).toContain("todouble(Properties.ageHours)");

    // The time range the views follow is a parameter of the workbook.
    expect(JSON.stringify(deployedDefinition(deploy()).items)).toContain('"name":"TimeRange"');
  });
});

describe("main template", () => {
  it("keeps every monitoring resource in the resource group, deployed by modules of their own", () => {
    const d = deploy();
    const rg = single(d, "Microsoft.Resources/resourceGroups").id;
    for (const type of [
      "Microsoft.Insights/diagnosticSettings",
      "Microsoft.Insights/actionGroups",
      "Microsoft.Insights/scheduledQueryRules",
      "Microsoft.Insights/workbooks",
    ]) {
      for (const r of ofType(d, type)) {
        expect(r.id.startsWith(`${rg}/providers/`), r.id).toBe(true);
        expect(["main/diagnostics", "main/alerts", "main/workbook"], r.id).toContain(r.module);
      }
    }
    // The default value of alertEmail evaluates to no address.
    const declared = template.parameters?.alertEmail?.defaultValue;
    expect(new TemplateContext(template, {}, {}, "main").evaluate(declared ?? null)).toBe("");
  });
});
