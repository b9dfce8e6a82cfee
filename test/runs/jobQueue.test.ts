import { describe, expect, it } from "vitest";
import { decodeJobMessage, encodeJobMessage, jobSource, type JobMessage } from "../../src/runs/jobQueue.js";

const CURRENT: JobMessage = {
  runId: "20261124T020000Z-k3x9qa",
  profile: "won-deals",
  source: "profile",
  trigger: "http",
  query: { filter: "status eq 'Won'", groupby: ["customerMarket"], aggregationLevel: null },
  formats: ["csv", "json"],
  correlationId: "5f0c1a52-8d3e-4b7a-9c1e-2f4d6b8a0c1e",
};

describe("export job messages", () => {
  it("round-trip in the current shape: the query nested, absent parts null", () => {
    expect(decodeJobMessage(encodeJobMessage(CURRENT))).toEqual(CURRENT);
  });

  it("jobs queued by earlier versions (query fields flat, no source) are still read", () => {
    const legacy = {
      runId: "20261124T020000Z-k3x9qa",
      profile: "adhoc",
      trigger: "http",
      filter: "status eq 'Won'",
      groupby: ["customerMarket", "wonDate"],
      aggregationLevel: "month",
      formats: ["csv"],
      correlationId: "5f0c1a52-8d3e-4b7a-9c1e-2f4d6b8a0c1e",
    };
    const text = Buffer.from(JSON.stringify(legacy)).toString("base64");
    const job = decodeJobMessage(text);
    expect(job.query).toEqual({
      filter: "status eq 'Won'",
      groupby: ["customerMarket", "wonDate"],
      aggregationLevel: "month",
    });
    expect(jobSource(job)).toBe("adhoc");
    const { filter: _f, groupby: _g, aggregationLevel: _a, ...bare } = legacy;
    const unfiltered = decodeJobMessage({ ...bare, profile: "all-referrals" });
    expect(unfiltered.query).toEqual({ filter: null, groupby: null, aggregationLevel: null });
    expect(jobSource(unfiltered)).toBe("profile");
  });

  it("a message mixing both shapes is refused, naming the unknown field", () => {
    expect(() => decodeJobMessage({ ...CURRENT, filter: "status eq 'Won'" })).toThrow(/filter/);
  });
});
