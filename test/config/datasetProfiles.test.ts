import { describe, expect, it } from "vitest";
import { loadSettings, SettingsError } from "../../src/config/settings.js";
import { DATASET_IDS, requireDataset } from "../../src/partnerCenter/datasets/index.js";

const base = { EXPORT_STORAGE_ACCOUNT_URL: "https://acct.blob.core.windows.net" };

function withProfiles(profiles: unknown, env: Record<string, string> = {}): Record<string, string> {
  return { ...base, ...env, EXPORT_PROFILES: JSON.stringify(profiles) };
}

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  return [];
}

describe("a profile names its dataset", () => {
  it("runs referrals when it names none, and its own dataset's query when it does", () => {
    const settings = loadSettings(
      withProfiles([
        { name: "won", filter: "status eq 'Won'" },
        {
          name: "renewals",
          dataset: "subscriptions",
          filter: "autoRenewEnabled EQ false and contains(customerName,'Contoso')",
          groupby: ["subscriptionType", "creationDate"],
          aggregationLevel: "month",
        },
        { name: "usage", dataset: "azureUsage", filter: "usageDate ge '2024-01-01'" },
      ]),
    );
    const [won, renewals, usage] = settings.profiles;
    expect(won?.query.dataset).toBe(requireDataset("referrals"));
    expect(won?.query.filter).toBe("status eq 'Won'");
    expect(renewals?.query.dataset).toBe(requireDataset("subscriptions"));
    expect(renewals?.query).toMatchObject({
      filter: "autoRenewEnabled eq false and contains(customerName,'Contoso')",
      groupby: ["subscriptionType", "creationDate"],
      aggregationLevel: "month",
    });
    expect(usage?.query.filter).toBe("usageDate ge cast('2024-01-01',Edm.DateTimeOffset)");
  });

  it("refuses an unknown dataset at start-up, listing the known ones", () => {
    const list = problems(withProfiles([{ name: "subs", dataset: "Subscriptions" }]));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(
      /^EXPORT_PROFILES\[0\]\.dataset: unknown dataset "Subscriptions" \(did you mean 'subscriptions'\?\); known datasets: /,
    );
    for (const id of DATASET_IDS) expect(list[0]).toContain(id);
  });

  it.each([
    [
      { name: "a", dataset: "subscriptions", filter: "wonDate gt '2024-01-01'" },
      "EXPORT_PROFILES[0].filter: unknown field 'wonDate' at position 0 in dataset subscriptions (known fields: customerTenantId,",
    ],
    [
      { name: "a", dataset: "subscriptions", filter: "customerName eq 'Contoso'" },
      "EXPORT_PROFILES[0].filter: operator 'eq' is not allowed on 'customerName' in dataset subscriptions (allowed on it: contains())",
    ],
    [
      { name: "a", dataset: "subscriptions", groupby: "licenseCount" },
      "EXPORT_PROFILES[0].groupby: 'licenseCount' cannot be grouped by in dataset subscriptions",
    ],
    [
      { name: "a", dataset: "licensesDeployment", groupby: "channel", aggregationLevel: "week" },
      "EXPORT_PROFILES[0].aggregationLevel: is not offered by dataset licensesDeployment",
    ],
    // A referrals field is not a search field, and the other way round.
    [
      { name: "a", filter: "contactButtonClicked eq true" },
      "EXPORT_PROFILES[0].filter: unknown field 'contactButtonClicked'",
    ],
  ])("refuses the query of %j for its dataset", (profile, message) => {
    const list = problems(withProfiles([profile]));
    expect(list).toHaveLength(1);
    expect(list[0]).toContain(message);
  });

  it("refuses a dataset the configured cloud does not offer, naming the cloud", () => {
    const env = withProfiles(
      [
        { name: "licenses", dataset: "licensesUsage" },
        { name: "subs", dataset: "subscriptions" },
      ],
      {
        PARTNER_CENTER_CLOUD: "usgov",
      },
    );
    expect(problems(env)).toEqual([
      "EXPORT_PROFILES[0].dataset: 'licensesUsage' is not offered in the usgov cloud (PARTNER_CENTER_CLOUD=usgov); Partner Center documents it for: global",
    ]);
    expect(
      loadSettings(withProfiles([{ name: "licenses", dataset: "licensesUsage" }])).profiles[0]?.query.dataset
        ?.id,
    ).toBe("licensesUsage");
  });
});
