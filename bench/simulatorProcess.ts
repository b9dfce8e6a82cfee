/**
 * The Partner Center simulator in a process of its own, so its CPU and memory never count against
 * the exporter. Started by bench/run.js with a JSON SimulatorSpec as its only argument; reports
 * `{type: "ready", url, caFile}` over IPC, answers `{type: "arrivals"}` with what it has seen, and
 * exits when the parent disconnects or after an hour at most.
 */
import { createDataset } from "../src/simulator/dataset.js";
import { REFERRALS_PATH, createPartnerCenterRoute } from "../src/simulator/partnerCenterRoute.js";
import { startSimulatorServer } from "../src/simulator/server.js";
import { createSimulatorTls } from "../src/simulator/tls.js";
import type { SimulatorRoute } from "../src/simulator/types.js";
import {
  DATASET_END,
  DATASET_SEED,
  PAGE_SIZE,
  benchVerifier,
  type ArrivalRecord,
  type ParentToSimulator,
  type SimulatorMessage,
  type SimulatorSpec,
} from "./shared.js";

const MAX_LIFE_MS = 3_600_000;
const MAX_ARRIVALS = 100_000;
/** Room for the page bodies of the largest data set the benchmark runs (about 400 MB a million rows). */
const PRERENDER_BYTES = 2 * 1024 ** 3;

function send(message: SimulatorMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as SimulatorSpec;
  const tls = await createSimulatorTls(spec.tlsDir);
  const partnerCenter = createPartnerCenterRoute({
    dataset: createDataset({ size: spec.size, seed: DATASET_SEED, end: DATASET_END }),
    tokenVerifier: benchVerifier,
    latencyMs: spec.latencyMs,
    ...(spec.faults !== undefined ? { faults: spec.faults } : {}),
    ...(spec.envelope !== undefined ? { envelope: spec.envelope } : {}),
    ...(spec.nextLinkMode !== undefined ? { nextLinkMode: spec.nextLinkMode } : {}),
    ...(spec.prerender === true ? { bodyCacheBytes: PRERENDER_BYTES } : {}),
  });
  if (spec.prerender === true) partnerCenter.prerender(PAGE_SIZE);

  // Counts referrals requests being served at once, to show what the client's prefetch really does.
  let arrivals: ArrivalRecord[] = [];
  let inFlight = 0;
  let seq = 0;
  const tracked: SimulatorRoute = (req, res, url) => {
    if (!url.pathname.toLowerCase().startsWith(REFERRALS_PATH)) return partnerCenter.route(req, res, url);
    inFlight++;
    const record = { seq: ++seq, inFlight, status: 0, at: Date.now() };
    res.once("close", () => {
      inFlight--;
      if (arrivals.length < MAX_ARRIVALS) arrivals.push({ ...record, status: res.statusCode });
    });
    return partnerCenter.route(req, res, url);
  };

  const server = await startSimulatorServer({ routes: [tracked], tls: { key: tls.key, cert: tls.cert } });
  const stop = (): void => {
    void server.close().finally(() => process.exit(0));
  };
  const lifetime = setTimeout(stop, MAX_LIFE_MS);
  lifetime.unref();
  process.on("disconnect", stop);
  process.on("SIGTERM", stop);
  process.on("message", (message: ParentToSimulator) => {
    const sorted = [...arrivals].sort((a, b) => a.seq - b.seq);
    if (message.reset) arrivals = [];
    send({ type: "arrivals", arrivals: sorted });
  });
  send({ type: "ready", url: server.url, caFile: tls.caFile });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
