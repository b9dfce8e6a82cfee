/**
 * The V8 options the product's Node.js processes run with: the Functions app's `NODE_OPTIONS`
 * setting (infra/) and the npm scripts that start the CLI, the demo and the dev host.
 *
 * V8 sizes the young generation from the machine's memory: 16 MB semi-spaces (48 MB in all) on a
 * 2 GB host. An export makes short-lived rows and page text at tens of MB a second, so that space
 * is always full before it is collected, and with it whatever Buffers its objects still hold: it is
 * the largest part of an export's peak RSS after the loaded SDKs. 4 MB semi-spaces keep a million-
 * row export about 30 MB lower (measured: 221-231 MB against 247-268 MB for Parquet) at no
 * measurable cost in time. Old space keeps V8's own limit: nothing here caps what a run may hold.
 */
export const EXPORTER_NODE_OPTIONS = "--max-semi-space-size=4";
