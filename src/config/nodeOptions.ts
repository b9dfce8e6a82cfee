/**
 * The V8 options the product's Node.js processes run with: the Functions app's `NODE_OPTIONS`
 * setting (infra/) and the npm scripts that start the CLI, the demo and the dev host.
 *
 * V8 sizes the young generation from the machine's memory: 16 MB semi-spaces (48 MB in all) on a
 * 2 GB host. An export makes short-lived rows and page text at hundreds of MB a second, so that
 * space is always full before it is collected: 4 MB semi-spaces keep a million-row CSV + JSON
 * export at 192-202 MB of peak RSS against 232-235 MB with V8's default, for about 2% more time
 * (bench/README.md). Old space keeps V8's own limit: nothing here caps what a run may hold.
 */
export const EXPORTER_NODE_OPTIONS = "--max-semi-space-size=4";
