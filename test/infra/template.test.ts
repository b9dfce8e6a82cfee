/**
 * Tests of the compiled infrastructure template (.tools/infra/main.json, built from infra/*.bicep by
 * scripts/infra-build.sh), evaluated with concrete parameter values by test/support/armTemplate.ts,
 * so the assertions are about the values Azure would receive.
 */
import { CONSENT_REQUEST_PREFIX } from "../../src/auth/appConsent.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { EXPORTER_NODE_OPTIONS } from "../../src/config/nodeOptions.js";
import {
  type ArmTemplate,
  type DeployedResource,
  type Deployment,
  type Value,
  CLIENT_ID,
  ENVIRONMENT,
  LOCATION,
  Runtime,
  TENANT_ID,
  TemplateContext,
  USER_ID,
  allTemplateResources,
  allTemplates,
  at,
  compiledParameters,
  deployTemplate,
  loadCompiledTemplate,
  nestedTemplate,
  props,
  roleDefinition,
  root,
  runtime,
  str,
} from "../support/armTemplate.js";

let template: ArmTemplate;
let templateText: string;

beforeAll(() => {
  ({ template, text: templateText } = loadCompiledTemplate());
}, 300_000);

function deploy(parameters: Record<string, Value> = {}): Deployment {
  return deployTemplate(template, parameters);
}

/** Resource types the tests below assert on; every deployed type must be here (and touched). */
const COVERED_TYPES = [
  "Microsoft.Resources/resourceGroups",
  "Microsoft.ManagedIdentity/userAssignedIdentities",
  "Microsoft.OperationalInsights/workspaces",
  "Microsoft.Insights/components",
  "Microsoft.Insights/diagnosticSettings",
  "Microsoft.Insights/actionGroups",
  "Microsoft.Insights/scheduledQueryRules",
  "Microsoft.Insights/workbooks",
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

// Built-in role definition ids (test/infra/roleDefinitions.json has their permissions and sources).
const ROLE = {
  storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
  storageBlobDataReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
  storageBlobDelegator: "db58b8e5-c6ad-4a2a-8342-4190687cbf4a",
  storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
  keyVaultSecretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
  monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
};
const FORBIDDEN_ROLES = {
  owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
  storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  storageAccountContributor: "17d1049b-9a84-46fb-8f53-869881c3d3ab",
};

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
    // The HTTP API's app registration: set by the preprovision hook, so empty by default.
    expect(p.apiClientId).toMatchObject({ type: "string", defaultValue: "", maxLength: 36 });
    expect(p.apiAudience).toMatchObject({ type: "string", defaultValue: "" });
    // Run limits, with the app's own defaults and ranges.
    expect(p.maxActiveRunsPerProfile).toMatchObject({
      type: "int",
      defaultValue: 3,
      minValue: 1,
      maxValue: 100,
    });
    expect(p.maxAdhocRunsPerHour).toMatchObject({
      type: "int",
      defaultValue: 12,
      minValue: 0,
      maxValue: 1000,
    });
    // Read links now reach whoever holds Exports.Read, not a function key.
    expect(p.httpReadLinkMinutes?.metadata?.description).toMatch(/Exports\.Read/);
    expect(p.httpReadLinkMinutes?.metadata?.description).not.toMatch(/function key/);
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
    expect(reads.get("apiClientId")?.variable).toBe("API_CLIENT_ID");
    expect(reads.get("apiAudience")?.variable).toBe("API_AUDIENCE");
    expect(reads.get("maxActiveRunsPerProfile")?.variable).toBe("MAX_ACTIVE_RUNS_PER_PROFILE");
    expect(reads.get("maxAdhocRunsPerHour")?.variable).toBe("MAX_ADHOC_RUNS_PER_HOUR");
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

  it("creates the deployment package, exports, run status, lock and Functions host containers, all private", () => {
    const d = deploy();
    const storageName = single(d, "Microsoft.Storage/storageAccounts").name;
    const containers = ofType(d, "Microsoft.Storage/storageAccounts/blobServices/containers");
    expect(containers.map((c) => c.name).sort()).toEqual(
      [
        "app-package",
        "azure-webjobs-hosts",
        "azure-webjobs-secrets",
        "export-locks",
        "export-runs",
        "referrals",
      ].map((n) => `${storageName}/default/${n}`),
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

    // Consent requests the browser never brought back (a PKCE verifier and a nonce each) go the
    // next day; the app keeps them under exactly this prefix of the locks container.
    const consentRequests = `export-locks/${CONSENT_REQUEST_PREFIX}`;
    expect(ruleOn(custom, consentRequests.slice(0, -1))).toMatchObject({
      enabled: true,
      definition: {
        filters: { blobTypes: ["blockBlob"], prefixMatch: [consentRequests] },
        actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 1 } } },
      },
    });

    // Every rule that tiers or deletes current blobs is limited to the exports container, the
    // run records or the consent requests; the account-wide rule only removes previous versions
    // (locks, the deployment package and the Functions host's own blobs are never aged out).
    for (const rule of custom) {
      const baseBlob = at(rule, "definition", "actions", "baseBlob");
      if (baseBlob !== null) {
        expect(["pc/", "export-runs/", consentRequests]).toContain(
          str(at(rule, "definition", "filters", "prefixMatch", 0)),
        );
        expect(at(rule, "definition", "filters", "prefixMatch")).toHaveLength(1);
      } else {
        expect(at(rule, "definition", "actions")).toEqual({
          version: { delete: { daysAfterCreationGreaterThan: 5 } },
        });
      }
    }
    expect(custom).toHaveLength(4);
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

  it("adds resource logs, alerts and the runs workbook (asserted in detail by monitoring.test.ts)", () => {
    const d = deploy();
    for (const type of [
      "Microsoft.Insights/diagnosticSettings",
      "Microsoft.Insights/actionGroups",
      "Microsoft.Insights/scheduledQueryRules",
      "Microsoft.Insights/workbooks",
    ])
      expect(ofType(d, type).length, type).toBeGreaterThan(0);
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
      // Empty until the preprovision hook has set API_CLIENT_ID: the API then refuses every call.
      API_CLIENT_ID: "",
      MAX_ACTIVE_RUNS_PER_PROFILE: "3",
      MAX_ADHOC_RUNS_PER_HOUR: "12",
    });
  });

  it("tells the app which tokens its HTTP API accepts, and adds API_AUDIENCE only when it is set", () => {
    const apiClientId = "77777777-7777-4777-8777-777777777777";
    const settings = appSettings(deploy({ apiClientId }));
    expect(settings.API_CLIENT_ID).toBe(apiClientId);
    expect(settings).not.toHaveProperty("API_AUDIENCE");
    expect(
      appSettings(deploy({ apiClientId, apiAudience: "api://referrals.contoso.example" })),
    ).toMatchObject({ API_CLIENT_ID: apiClientId, API_AUDIENCE: "api://referrals.contoso.example" });
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
        maxActiveRunsPerProfile: 1,
        maxAdhocRunsPerHour: 0,
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
      MAX_ACTIVE_RUNS_PER_PROFILE: "1",
      MAX_ADHOC_RUNS_PER_HOUR: "0",
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

  it("grants the app identity and the deploying user exactly the intended roles, each on one container, queue or resource", () => {
    const d = deploy();
    const { identity, storage, vault, insights } = ids(d);
    const app = runtime(identity, "principalId");
    const container = (name: string): string => `${storage}/blobServices/default/containers/${name}`;
    const grant = (role: string, scope: string, principal: Value): Grant => ({
      role: roleDefinition(role),
      scope,
      principal,
      principalType: principal === USER_ID ? "User" : "ServicePrincipal",
    });
    expect(byRole(grants(d))).toEqual(
      byRole([
        ...[
          "referrals",
          "export-runs",
          "export-locks",
          "app-package",
          "azure-webjobs-hosts",
          "azure-webjobs-secrets",
        ].map((name) => grant(ROLE.storageBlobDataContributor, container(name), app)),
        ...["export-jobs", "export-jobs-poison"].map((name) =>
          grant(ROLE.storageQueueDataContributor, `${storage}/queueServices/default/queues/${name}`, app),
        ),
        // The vault, not a secret: the secrets are written after deployment, and a role can only be
        // scoped to a secret that exists.
        grant(ROLE.keyVaultSecretsOfficer, vault, app),
        grant(ROLE.monitoringMetricsPublisher, insights, app),
        grant(ROLE.keyVaultSecretsOfficer, vault, USER_ID),
        grant(ROLE.storageBlobDataContributor, container("export-locks"), USER_ID),
        grant(ROLE.storageBlobDataReader, container("referrals"), USER_ID),
        grant(ROLE.storageBlobDataReader, container("export-runs"), USER_ID),
      ]),
    );
  });

  it("grants the app user delegation keys only when read links are on (the credential secret is within its vault role)", () => {
    const added = (parameters: Record<string, Value>): Grant[] => {
      const base = grants(deploy()).map((g) => JSON.stringify(g));
      return grants(deploy(parameters)).filter((g) => !base.includes(JSON.stringify(g)));
    };
    const d = deploy();
    const { identity, storage } = ids(d);
    const app = runtime(identity, "principalId");
    expect(added({ partnerCenterCredential: "secret" })).toEqual([]);
    expect(
      added({ partnerCenterCredential: "certificate", partnerCenterCertificateName: "pc-cert" }),
    ).toEqual([]);
    expect(added({ httpReadLinkMinutes: 60 })).toEqual([
      {
        role: roleDefinition(ROLE.storageBlobDelegator),
        scope: storage,
        principal: app,
        principalType: "ServicePrincipal",
      },
    ]);
  });

  it("grants the deploying user nothing when principalId is empty, and honours principalType", () => {
    const none = grants(deploy({ principalId: "" }));
    expect(none).toHaveLength(10);
    expect(none.every((g) => g.principal instanceof Runtime)).toBe(true);
    const group = grants(deploy({ principalType: "Group" })).filter((g) => g.principal === USER_ID);
    expect(group.map((g) => g.principalType)).toEqual(["Group", "Group", "Group", "Group"]);
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
      // The `referrals-export remote` commands read the API's URL under this name.
      REFERRALS_EXPORT_API_URL: `https://${runtime(site.id, "defaultHostName").toString()}`,
      // No API registration yet: no scope to ask for.
      API_SCOPE: "",
    });
  });

  it("names the scope callers ask for: api://<client id>/.default, or the configured audience's", () => {
    const apiClientId = "77777777-7777-4777-8777-777777777777";
    expect(deploy({ apiClientId }).outputs.API_SCOPE).toBe(`api://${apiClientId}/.default`);
    expect(deploy({ apiClientId, apiAudience: "api://referrals.contoso.example" }).outputs.API_SCOPE).toBe(
      "api://referrals.contoso.example/.default",
    );
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

  it("runs hook scripts that read only what azd has: its own variables, the azd environment and the Bicep outputs", () => {
    const yaml = text();
    const hooks = yaml.slice(yaml.indexOf("\nhooks:"));
    const scripts = [
      ...new Set([...hooks.matchAll(/run: node (scripts\/hooks\/\S+\.mjs)$/gm)].map((m) => m[1]!)),
    ];
    expect(scripts.sort()).toEqual(["scripts/hooks/postprovision.mjs", "scripts/hooks/preprovision.mjs"]);
    const read = (file: string): Set<string> => {
      const source = readFileSync(join(root, file), "utf8");
      return new Set(
        [...source.matchAll(/(?:setting\(|process\.env\.)"?([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!),
      );
    };
    const outputs = Object.keys(template.outputs ?? {});
    // Set by azd itself, or in the azd environment by you or the preprovision hook; every other
    // name is a Bicep output, which azd stores under the same name.
    const azdVariables = ["AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID", "AZURE_PRINCIPAL_ID"];
    expect([...read("scripts/hooks/preprovision.mjs")].sort()).toEqual(
      [...azdVariables, "PARTNER_CENTER_CLIENT_ID", "API_CLIENT_ID"].sort(),
    );
    const post = read("scripts/hooks/postprovision.mjs");
    expect(
      [...post].filter((name) => !outputs.includes(name) && !azdVariables.includes(name)).sort(),
    ).toEqual(["API_AUDIENCE", "API_CLIENT_ID"]);
    for (const name of [
      "FUNCTION_APP_URL",
      "API_SCOPE",
      "KEY_VAULT_URL",
      "TOKEN_CACHE_SECRET_NAME",
      "AZURE_TENANT_ID",
      "PARTNER_CENTER_CLIENT_ID",
      "PARTNER_CENTER_CLOUD",
      "EXPORT_STORAGE_ACCOUNT_URL",
      "FEDERATED_CREDENTIAL_ISSUER",
      "MANAGED_IDENTITY_PRINCIPAL_ID",
    ]) {
      expect(outputs, name).toContain(name);
      expect(post, name).toContain(name);
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
