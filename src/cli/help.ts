import { DATASET_IDS } from "../partnerCenter/datasets/index.js";
import { UsageError } from "./io.js";
import { productVersion } from "./version.js";

/**
 * Every help text of the command. Kept apart from the commands (and free of their imports), so
 * `--help` and `--version` answer without loading the storage and identity libraries.
 */

/** Longest `runs list --limit` (the run store's MAX_LIST_LIMIT; a test keeps the two equal). */
export const RUNS_LIST_MAX = 50;

const EXIT_CODES = `Exit codes:
  0  ok
  1  the export failed (nothing was published), or another run of the profile is running
  2  bad usage or settings, storage not reachable, or no Azure sign-in for storage (nothing was sent)
  3  consent needed: run referrals-export auth login --device-code
  4  remote export --wait stopped waiting at --timeout (the run goes on)`;

export function overviewHelp(): string {
  return `referrals-export ${productVersion()} — exports Partner Center referrals analytics to Azure Blob Storage

Usage: referrals-export <command> [options]
       referrals-export help <command>    one command's options, examples and exit codes
       referrals-export --version

Commands:
  export       run one export now (a profile, or ad hoc) and publish it
                 referrals-export export --profile won-deals
  runs list    list recent runs from every door (HTTP, timer, CLI), newest first
                 referrals-export runs list --profile won-deals
  auth login   consent once; the sign-in is kept in Key Vault for unattended exports
                 referrals-export auth login --device-code
  auth status  show the stored sign-in and whether a token can be obtained now
                 referrals-export auth status
  simulate     serve a local Partner Center, Entra ID, Key Vault and Azurite, and print their settings
                 referrals-export simulate --rows 5000
  remote       start, follow and list exports of the deployed app through its HTTP API, signed in with az login
                 referrals-export remote export --profile won-deals --wait

Options:
  -h, --help     this overview; after a command, that command's help
  -V, --version  print the version

Settings come from environment variables with the app's names (README, "Settings"). Results go to
stdout; log lines (JSON, LOG_LEVEL) and messages go to stderr.

${EXIT_CODES}

Run 'referrals-export help <command>' (e.g. 'referrals-export help export') for a command's options.`;
}

export const EXPORT_HELP = `Usage: referrals-export export --profile NAME [--json]
       referrals-export export [--dataset ID] [--filter F] [--groupby A,B] [--aggregation-level L] [--format LIST] [--name NAME] [--json]

Runs one export now and publishes it in EXPORT_CONTAINER under {name}/snapshot_date=…/run_id=…/,
then {name}/latest/. A run that fails publishes nothing and leaves latest/ as it was. The request
is checked like POST /api/exports before anything is sent.

Options:
  --profile NAME           run a profile from EXPORT_PROFILES as configured (its query and formats);
                           not combined with the ad-hoc options below
  --dataset ID             ad hoc: the analytics dataset, one of ${DATASET_IDS.join(", ")}
                           (default referrals); --filter and --groupby name its fields
  --filter F               ad hoc: a Partner Center filter, e.g. "status eq 'Won' and wonDate ge '2026-01-01'"
  --groupby A,B            ad hoc: count rows per group of these fields
  --aggregation-level L    ad hoc: day, week or month; needs a date field in --groupby
  --format LIST            ad hoc: files to write, from csv, json, parquet (default csv,json)
  --name NAME              ad hoc: folder to publish under (default adhoc for referrals, adhoc-<dataset>
                           for the others, e.g. adhoc-azure-usage); never a profile's name
  --json                   print the run's manifest as one JSON document on stdout
  -h, --help               this help

Examples:
  referrals-export export --profile won-deals
  referrals-export export --filter "status eq 'Won' and wonDate ge '2026-01-01'" --format csv,parquet --name won-2026
  referrals-export export --groupby customerMarket,createdDate --aggregation-level month --name by-month --json
  referrals-export export --dataset subscriptions --filter "autoRenewEnabled eq false and contains(customerName,'Contoso')"

Exit codes:
  0  published
  1  the export failed (nothing was published), or another run of the profile is running
  2  bad usage or settings, storage not reachable, or no Azure sign-in for storage (nothing was sent)
  3  consent needed: run referrals-export auth login --device-code`;

export const RUNS_HELP = `Usage: referrals-export runs list [--profile NAME] [--limit N] [--json]

Lists recent runs from every door (HTTP, timer, CLI), newest first: the records GET /api/exports
shows, with status, trigger, rows, completion time and the reason of a failure.

Options:
  --profile NAME   only the runs of this profile (or ad-hoc name); default: every profile
  --limit N        at most N runs, 1-${RUNS_LIST_MAX} (default 20)
  --json           print the runs as one JSON array on stdout
  -h, --help       this help

Examples:
  referrals-export runs list
  referrals-export runs list --profile won-deals --limit 5
  referrals-export runs list --json

Exit codes:
  0  listed (also when there are no runs yet)
  1  the run records could not be read
  2  bad usage or settings, storage not reachable, or no Azure sign-in for storage`;

export const AUTH_LOGIN_HELP = `Usage: referrals-export auth login [--device-code | --auth-code [--port P]]

A Partner Center admin consents once. The sign-in (MSAL token cache with its refresh token) is
stored in the Key Vault secret TOKEN_CACHE_SECRET_NAME; exports use it unattended. Needs
AZURE_TENANT_ID, PARTNER_CENTER_CLIENT_ID and KEY_VAULT_URL. Prints no token.

Options:
  --device-code    (default) print a code to enter at the Microsoft sign-in page; for headless machines
  --auth-code      sign in with a browser: authorization code + PKCE, redirected to http://localhost:P
  --port P         the loopback port for --auth-code (1-65535; default: a free one)
  -h, --help       this help

Examples:
  referrals-export auth login --device-code
  referrals-export auth login --auth-code --port 8400

Exit codes:
  0  signed in; the sign-in is stored in Key Vault
  1  sign-in failed (declined, timed out, Key Vault not reachable)
  2  bad usage or settings
  3  consent is still needed (the reason is printed, e.g. the app's admin consent is missing)`;

export const AUTH_STATUS_HELP = `Usage: referrals-export auth status [--json]

Shows the cloud, tenant, app, the stored sign-in (account, how it was consented, when it was last
refreshed) and whether a Partner Center token can be obtained now, refreshing it if needed. Never
prints a token.

Options:
  --json        print the status as one JSON document on stdout
  -h, --help    this help

Examples:
  referrals-export auth status
  referrals-export auth status --json

Exit codes:
  0  a token can be obtained now
  1  no token can be obtained now (reason on stderr), or Key Vault cannot be read
  2  bad usage or settings
  3  consent needed: run referrals-export auth login --device-code`;

export const AUTH_HELP = `Usage: referrals-export auth login [--device-code | --auth-code [--port P]]
       referrals-export auth status [--json]

  auth login    consent once; the sign-in is kept in Key Vault for unattended exports
  auth status   show the stored sign-in and whether a token can be obtained now

Examples:
  referrals-export auth login --device-code
  referrals-export auth status

Run 'referrals-export help auth login' or 'referrals-export help auth status' for options and exit codes.`;

export const SIMULATE_HELP = `Usage: referrals-export simulate [--port P] [--rows N] [--seed S] [--latency-ms L] [--faults SPEC]
                                [--next-link relative|absolute] [--no-storage]

Serves Partner Center referrals analytics, an Entra ID token endpoint and Key Vault over HTTPS on
127.0.0.1, with a deterministic data set, and starts Azurite (in memory, Blob 127.0.0.1:10000,
Queue 127.0.0.1:10001). Prints the settings that point the exporter at them as 'export NAME=value'
lines to paste into another shell; every other line is a '#' comment. The simulator approves
device-code sign-ins by itself. Stops, with Azurite, on Ctrl-C.

Options:
  --port P                 HTTPS port of the simulator (default: a free one)
  --rows N                 referrals in the data set, 0-50,000,000 (default 10,000)
  --seed S                 seed of the data set, so a run can be repeated (default 1)
  --latency-ms L           delay of every Partner Center answer, in ms (default 0)
  --faults SPEC            injected failures, comma-separated KIND[:ARG]@WHEN: KIND 429 (ARG =
                           Retry-After s or none), 500, 502, 503, 504, reset, truncate, slow (ARG =
                           ms) or short; WHEN a request number N, a range N-M, * or P% (seeded)
  --next-link MODE         answer with next-page links, relative or absolute (default: none)
  --no-storage             do not start Azurite; print how to start it and its connection string
  -h, --help               this help

Examples:
  referrals-export simulate --rows 5000
  referrals-export simulate --port 8443 --rows 100000 --seed 7 --latency-ms 200 --faults "429:5@3,503@7"
  referrals-export simulate --no-storage

Exit codes:
  0  stopped with Ctrl-C
  1  the simulator or Azurite could not start
  2  bad usage, or Azurite's ports (10000, 10001) are in use`;

export const REMOTE_HELP = `Usage: referrals-export remote export (--profile NAME | [--dataset ID] [--filter F] [--groupby A,B] [--aggregation-level L] [--format LIST] [--name NAME])
                                     [--force] [--wait [--timeout D]] [--json] [--api-url URL] [--scope SCOPE]
       referrals-export remote runs [--profile NAME] [--limit N] [--continuation TOKEN] [--json] [--api-url URL] [--scope SCOPE]
       referrals-export remote status RUN_ID [--read-links] [--json] [--api-url URL] [--scope SCOPE]
       referrals-export remote consent [--open] [--api-url URL] [--scope SCOPE]

Calls the deployed app's HTTP API (docs/http-api.md) with your Microsoft Entra ID sign-in: after
'az login' nothing else is needed (DefaultAzureCredential). The API checks the app roles
Exports.Read (runs, status), Exports.Run (export) and Exports.Admin (--force); an administrator
assigns them (docs/deployment.md, "Who may call the API").

  remote export   start an export in Azure, with the flags of 'export' (checked the same way);
                  prints the run id and status URL, or with --wait follows the run to its end
  remote runs     list recent runs, newest first, and the token of the next page
  remote status   show one run: status, timings, rows, files, error
  remote consent  store the Partner Center sign-in through the app (Exports.Admin): prints (or with
                  --open, opens) a one-time Entra ID sign-in page; the app's own confidential client
                  redeems it, so the token in Key Vault is useless without the app's credential

Options:
  --profile NAME           export: run this profile as configured in the app; runs: only its runs
  --dataset ID             export, ad hoc: the analytics dataset (default referrals; see 'help export')
  --filter F               export, ad hoc: a Partner Center filter, e.g. "status eq 'Won'"
  --groupby A,B            export, ad hoc: count rows per group of these fields
  --aggregation-level L    export, ad hoc: day, week or month; needs a date field in --groupby
  --format LIST            export, ad hoc: files to write, from csv, json, parquet (default csv,json)
  --name NAME              export, ad hoc: folder to publish under (default adhoc, or adhoc-<dataset>)
  --force                  export: queue even if a run of the profile is in progress (Exports.Admin)
  --wait                   export: poll the run until it ends, with progress on stderr, and exit as a
                           local export does
  --timeout D              with --wait: stop waiting after D, e.g. 90s, 30m, 2h (default 2h; at most 24h)
  --limit N                runs: at most N runs, 1-${RUNS_LIST_MAX} (default: the API's, 20)
  --continuation TOKEN     runs: the next page, with the token the previous page printed
  --read-links             status: add a time-limited read link to each file of a succeeded run
                           (anyone holding one can read the file until it expires)
  --open                   consent: also open the sign-in page in the system browser
  --json                   print the API's answer as JSON on stdout
  --api-url URL            the function app's base URL, e.g. https://func-abc.azurewebsites.net
                           (default: REFERRALS_EXPORT_API_URL); https only, or http to 127.0.0.1,
                           ::1 or localhost for the dev host
  --scope SCOPE            the token's scope (default: REFERRALS_EXPORT_API_SCOPE, else
                           api://$API_CLIENT_ID/.default)
  -h, --help               this help

Examples:
  referrals-export remote export --profile won-deals --wait
  referrals-export remote export --filter "status eq 'Won'" --format csv --name won --api-url https://func-abc.azurewebsites.net
  referrals-export remote runs --profile won-deals --limit 5
  referrals-export remote status 20261124T020000Z-k3x9qa --read-links
  referrals-export remote consent --open

Exit codes:
  0  done (with --wait: the run succeeded)
  1  the run failed, or the API refused the call (token, role, run in progress, limit) or could not be reached
  2  bad usage: arguments, API URL or scope, or a request the API refused as invalid (400)
  3  with --wait: the run failed because consent is needed (referrals-export remote consent)
  4  with --wait: stopped waiting at --timeout; the run goes on (follow it with remote status)`;

/** The help of `help <topic…>` and `<topic…> --help`: one command's text alone. */
export function helpFor(topic: readonly string[]): string {
  const [command, sub] = topic;
  switch (command) {
    case undefined:
      return overviewHelp();
    case "export":
      return EXPORT_HELP;
    case "runs":
      return RUNS_HELP;
    case "simulate":
      return SIMULATE_HELP;
    case "remote":
      return REMOTE_HELP;
    case "auth":
      if (sub === "login") return AUTH_LOGIN_HELP;
      if (sub === "status") return AUTH_STATUS_HELP;
      return AUTH_HELP;
    default:
      throw new UsageError(
        `no help for '${command.slice(0, 40)}' (commands: export, runs list, auth login, auth status, simulate, remote)`,
      );
  }
}
