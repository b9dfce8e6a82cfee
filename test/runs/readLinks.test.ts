import { randomBytes } from "node:crypto";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import {
  AnonymousCredential,
  ContainerClient,
  StorageSharedKeyCredential,
  type UserDelegationKey,
} from "@azure/storage-blob";
import { describe, expect, it } from "vitest";
import {
  DELEGATION_KEY_REUSE_MS,
  ReadLinkError,
  createReadLinkSigner,
  runReadLinks,
  type ReadLinkService,
} from "../../src/runs/readLinks.js";
import type { RunRecord } from "../../src/runs/runStore.js";

/**
 * The user delegation path, which Azurite does not offer without OAuth: a fake service hands out
 * delegation keys, and the links it signs are checked field by field. The Azurite-backed test
 * (test/functions/readLinks.test.ts) proves that links signed the other way really work.
 */

const ACCOUNT = "exportacct";
const container = new ContainerClient(`https://${ACCOUNT}.blob.core.windows.net/referrals`);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const tokenCredential: TokenCredential = {
  getToken: (_scopes: string | string[]): Promise<AccessToken | null> => Promise.resolve(null),
};

class FakeClock {
  constructor(public ms: number) {}
  readonly now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

interface KeyRequest {
  readonly startsOn: Date;
  readonly expiresOn: Date;
}

/** A BlobServiceClient stand-in that issues delegation keys (optionally failing or slow). */
function fakeService(
  options: { credential?: unknown; fail?: () => boolean; delayMs?: number } = {},
): ReadLinkService & { requests: KeyRequest[] } {
  const requests: KeyRequest[] = [];
  return {
    accountName: ACCOUNT,
    credential: options.credential ?? tokenCredential,
    requests,
    async getUserDelegationKey(startsOn: Date, expiresOn: Date): Promise<UserDelegationKey> {
      requests.push({ startsOn, expiresOn });
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      if (options.fail?.()) throw new Error("Storage refused the key request");
      return {
        signedObjectId: "11111111-1111-1111-1111-111111111111",
        signedTenantId: "22222222-2222-2222-2222-222222222222",
        signedStartsOn: startsOn,
        signedExpiresOn: expiresOn,
        signedService: "b",
        signedVersion: "2025-11-05",
        value: randomBytes(32).toString("base64"),
      };
    },
  };
}

const PATH = "all-referrals/snapshot_date=2026-11-24/run_id=20261124T020000Z-k3x9qa/referrals.csv";

describe("read links signed with a user delegation key", () => {
  it("are read-only, for one blob, https only, from a few minutes ago until the lifetime ends", async () => {
    const clock = new FakeClock(Date.parse("2026-11-24T10:00:00.400Z"));
    const service = fakeService();
    const signer = createReadLinkSigner(service, container, { lifetimeMinutes: 30, now: clock.now });
    const [link] = await signer.sign([PATH]);

    expect(link!.expiresOn).toBe("2026-11-24T10:30:00.000Z");
    const url = new URL(link!.url);
    expect(`${url.origin}${url.pathname}`).toBe(container.getBlobClient(PATH).url);
    const q = url.searchParams;
    expect(q.get("sp")).toBe("r");
    expect(q.get("sr")).toBe("b");
    expect(q.get("spr")).toBe("https");
    expect(q.get("st")).toBe("2026-11-24T09:55:00Z");
    expect(q.get("se")).toBe("2026-11-24T10:30:00Z");
    // The delegation key's identity and validity travel with the link; the key itself does not.
    expect(q.get("skoid")).toBe("11111111-1111-1111-1111-111111111111");
    expect(q.get("sktid")).toBe("22222222-2222-2222-2222-222222222222");
    expect(q.get("sks")).toBe("b");
    expect(q.get("sig")).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    expect(service.requests).toHaveLength(1);
    const request = service.requests[0]!;
    expect(request.startsOn.toISOString()).toBe("2026-11-24T09:55:00.000Z");
    expect(request.expiresOn.getTime()).toBe(Date.parse(link!.expiresOn) + DELEGATION_KEY_REUSE_MS);
    expect(q.get("ske")).toBe(request.expiresOn.toISOString().replace(".000Z", "Z"));
  });

  it("sign each blob separately: one signature per blob, one expiry for the lot", async () => {
    const signer = createReadLinkSigner(fakeService(), container, { lifetimeMinutes: 5 });
    const names = [PATH, PATH.replace(".csv", ".json"), PATH.replace("referrals.csv", "_manifest.json")];
    const links = await signer.sign(names);
    expect(links.map((l) => decodeURIComponent(new URL(l.url).pathname))).toEqual(
      names.map((n) => `/referrals/${n}`),
    );
    expect(new Set(links.map((l) => new URL(l.url).searchParams.get("sig"))).size).toBe(3);
    expect(new Set(links.map((l) => l.expiresOn)).size).toBe(1);
  });

  it("reuse one key while it outlives the links, and ask for a new one when it would not", async () => {
    const clock = new FakeClock(Date.parse("2026-11-24T00:00:00Z"));
    const service = fakeService();
    const lifetime = 60;
    const signer = createReadLinkSigner(service, container, { lifetimeMinutes: lifetime, now: clock.now });

    await signer.sign([PATH]);
    const first = service.requests[0]!;
    // Status polls for most of a day sign with the same key.
    for (let i = 0; i < 23; i++) {
      clock.advance(HOUR);
      await signer.sign([PATH, PATH]);
    }
    expect(service.requests).toHaveLength(1);

    // Once the key has less than a link's lifetime left, a new key is requested.
    clock.ms = first.expiresOn.getTime() - lifetime * MINUTE + 1_000;
    const [late] = await signer.sign([PATH]);
    expect(service.requests).toHaveLength(2);
    const second = service.requests[1]!;
    expect(second.expiresOn.getTime()).toBeGreaterThanOrEqual(Date.parse(late!.expiresOn));
    expect(new URL(late!.url).searchParams.get("ske")).toBe(
      second.expiresOn.toISOString().replace(".000Z", "Z"),
    );
  });

  it("keys never outlive what Storage allows (7 days), even for the longest links", async () => {
    const clock = new FakeClock(Date.parse("2026-11-24T00:00:00Z"));
    const service = fakeService();
    await createReadLinkSigner(service, container, { lifetimeMinutes: 1_440, now: clock.now }).sign([PATH]);
    const request = service.requests[0]!;
    expect(request.expiresOn.getTime() - clock.ms).toBeLessThanOrEqual(7 * 24 * HOUR);
    expect(request.expiresOn.getTime() - clock.ms).toBeGreaterThan(24 * HOUR);
  });

  it("concurrent requests share one key request", async () => {
    const service = fakeService({ delayMs: 20 });
    const signer = createReadLinkSigner(service, container, { lifetimeMinutes: 10 });
    const results = await Promise.all([signer.sign([PATH]), signer.sign([PATH]), signer.sign([PATH])]);
    expect(results).toHaveLength(3);
    expect(service.requests).toHaveLength(1);
  });

  it("a failed key request is not cached: the next request tries again", async () => {
    let failures = 1;
    const service = fakeService({ fail: () => failures-- > 0 });
    const signer = createReadLinkSigner(service, container, { lifetimeMinutes: 10 });
    await expect(signer.sign([PATH])).rejects.toThrow(/refused/);
    const [link] = await signer.sign([PATH]);
    expect(link!.url).toContain("sig=");
    expect(service.requests).toHaveLength(2);
  });
});

describe("read links signed with a shared key (Azurite)", () => {
  it("sign a service SAS with the account key and never ask for a delegation key", async () => {
    const key = randomBytes(64).toString("base64");
    const service = fakeService({ credential: new StorageSharedKeyCredential(ACCOUNT, key) });
    const signer = createReadLinkSigner(service, container, { lifetimeMinutes: 10, allowHttp: true });
    const [link] = await signer.sign([PATH]);
    const q = new URL(link!.url).searchParams;
    expect(q.get("sp")).toBe("r");
    expect(q.get("sr")).toBe("b");
    expect(q.get("spr")).toBe("https,http");
    expect(q.get("skoid")).toBeNull();
    expect(link!.url).not.toContain(key);
    expect(service.requests).toHaveLength(0);
  });

  it("cannot sign without a key or an Entra credential", async () => {
    const service = fakeService({ credential: new AnonymousCredential() });
    const signer = createReadLinkSigner(service, container, { lifetimeMinutes: 10 });
    await expect(signer.sign([PATH])).rejects.toBeInstanceOf(ReadLinkError);
    expect(service.requests).toHaveLength(0);
  });

  it("refuses a lifetime below one minute", () => {
    expect(() => createReadLinkSigner(fakeService(), container, { lifetimeMinutes: 0 })).toThrow(RangeError);
  });
});

describe("runReadLinks", () => {
  const run = (fields: Partial<RunRecord>): RunRecord => ({
    schemaVersion: 1,
    runId: "20261124T020000Z-k3x9qa",
    profile: "all-referrals",
    trigger: "http",
    status: "succeeded",
    correlationId: "c",
    query: { filter: null, groupby: null, aggregationLevel: null },
    formats: ["csv", "json"],
    queuedAt: "2026-11-24T02:00:00Z",
    updatedAt: "2026-11-24T02:00:09Z",
    attempts: 1,
    ...fields,
  });
  const file = (path: string, format: "csv" | "json") => ({
    path,
    format,
    bytes: 1,
    sha256: "x",
    rowCount: 1,
  });

  it("links every file in order, then the manifest", async () => {
    const signer = createReadLinkSigner(fakeService(), container, { lifetimeMinutes: 10 });
    const links = await runReadLinks(
      run({
        files: [file("a/referrals.csv", "csv"), file("a/referrals.json", "json")],
        manifestPath: "a/_manifest.json",
      }),
      signer,
    );
    expect(links.files.map((l) => new URL(l.url).pathname)).toEqual([
      "/referrals/a/referrals.csv",
      "/referrals/a/referrals.json",
    ]);
    expect(new URL(links.manifest!.url).pathname).toBe("/referrals/a/_manifest.json");
  });

  it("gives no manifest link when the run names no manifest", async () => {
    const signer = createReadLinkSigner(fakeService(), container, { lifetimeMinutes: 10 });
    const links = await runReadLinks(run({ files: [file("a/referrals.csv", "csv")] }), signer);
    expect(links.files).toHaveLength(1);
    expect(links.manifest).toBeUndefined();
  });
});
