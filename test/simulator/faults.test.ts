import { describe, expect, it } from "vitest";
import { parseFaultSpec, type Fault, type FaultPlan } from "../../src/simulator/faults.js";

function run(plan: FaultPlan, requests: number): (Fault | undefined)[] {
  return Array.from({ length: requests }, () => plan.next());
}

describe("parseFaultSpec", () => {
  it("applies rules by request number", () => {
    const plan = parseFaultSpec("429:7@2, 503@4-5, reset@7");
    expect(run(plan, 8)).toEqual([
      undefined,
      { kind: "429", retryAfterSeconds: 7 },
      undefined,
      { kind: "503" },
      { kind: "503" },
      undefined,
      { kind: "reset" },
      undefined,
    ]);
    expect(plan.requestCount).toBe(8);
  });

  it("parses every kind and its argument", () => {
    const plan = parseFaultSpec(
      "429@1,429:none@2,500@3,502@4,503@5,504@6,reset@7,truncate@8,slow:250@9,slow@10,short@11,SHORT@12",
    );
    expect(run(plan, 12)).toEqual([
      { kind: "429", retryAfterSeconds: 1 },
      { kind: "429", retryAfterSeconds: undefined },
      { kind: "500" },
      { kind: "502" },
      { kind: "503" },
      { kind: "504" },
      { kind: "reset" },
      { kind: "truncate" },
      { kind: "slow", delayMs: 250 },
      { kind: "slow", delayMs: 1000 },
      { kind: "short" },
      { kind: "short" },
    ]);
  });

  it("never clears a * rule, and lets the first listed rule win", () => {
    expect(run(parseFaultSpec("503@*"), 50).every((f) => f?.kind === "503")).toBe(true);
    expect(run(parseFaultSpec("429@2,500@*"), 3).map((f) => f?.kind)).toEqual(["500", "429", "500"]);
  });

  it("draws percentages from a seeded generator: reproducible, roughly the asked rate", () => {
    const a = run(parseFaultSpec("500@20%", 5), 2000).map((f) => f !== undefined);
    const b = run(parseFaultSpec("500@20%", 5), 2000).map((f) => f !== undefined);
    const c = run(parseFaultSpec("500@20%", 6), 2000).map((f) => f !== undefined);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    const rate = a.filter(Boolean).length / a.length;
    expect(rate).toBeGreaterThan(0.15);
    expect(rate).toBeLessThan(0.25);
    expect(run(parseFaultSpec("500@100%"), 20).every((f) => f !== undefined)).toBe(true);
  });

  it("keeps a percentage rule's draws independent of rules listed before it", () => {
    const alone = run(parseFaultSpec("500@30%", 9), 200).map((f) => f?.kind === "500");
    const after = run(parseFaultSpec("429@1000,500@30%", 9), 200).map((f) => f?.kind === "500");
    expect(after).toEqual(alone);
  });

  it("treats an empty spec as no faults", () => {
    expect(run(parseFaultSpec(""), 5)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(parseFaultSpec("  ").rules).toHaveLength(0);
  });

  it.each<[string, string]>([
    ["429", "bad rule '429': missing '@WHEN'"],
    ["418@1", "bad rule '418@1': unknown kind '418'"],
    ["429:abc@1", "bad rule '429:abc@1': Retry-After must be whole seconds"],
    ["429:-1@1", "Retry-After must be whole seconds"],
    ["500:3@1", "bad rule '500:3@1': '500' takes no argument"],
    ["reset:1@1", "'reset' takes no argument"],
    ["slow:fast@1", "bad rule 'slow:fast@1': delay must be whole milliseconds"],
    ["503@0", "request numbers start at 1"],
    ["503@5-2", "range 5-2 is backwards"],
    ["503@x", "'@x' is not N, N-M, * or P%"],
    ["503@", "'@' is not N, N-M, * or P%"],
    ["503@0%", "above 0% and at most 100%"],
    ["503@150%", "above 0% and at most 100%"],
    ["503@1,,500@2", "empty rule at position 2"],
    ["503@1,bogus@2", "bad rule 'bogus@2'"],
  ])("rejects %j", (spec, message) => {
    expect(() => parseFaultSpec(spec)).toThrow(message);
  });
});
