import { X509Certificate } from "node:crypto";
import type { Stats } from "node:fs";
import { link, lstat, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { generate } from "selfsigned";

/** A local certificate authority and a loopback server certificate it signed. */
export interface SimulatorTls {
  /** The CA certificate (PEM) a client must trust to talk to the simulator. */
  readonly caCertPem: string;
  /** Path of a file holding `caCertPem`, for `LOCAL_CA_CERT_FILE` or `NODE_EXTRA_CA_CERTS`. */
  readonly caFile: string;
  /** Server private key (PEM). */
  readonly key: string;
  /** Server certificate (PEM) for `127.0.0.1` and `localhost`. */
  readonly cert: string;
}

interface Bundle {
  readonly caCertPem: string;
  readonly key: string;
  readonly cert: string;
}

const BUNDLE_FILE = "simulator-tls.json";
const CA_FILE = "simulator-ca.pem";
/** Regenerate when the server certificate has less than this left, so a long demo never hits expiry. */
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

/** The folder or one of its files is not safe to take a trusted CA and a server key from. */
export class SimulatorTlsError extends Error {
  override readonly name = "SimulatorTlsError";
  readonly reason = "unsafe_tls_folder";
}

export function isSimulatorTlsError(error: unknown): error is SimulatorTlsError {
  return error instanceof SimulatorTlsError;
}

/** This user's id, or undefined where the platform has none (Windows: its folders are per user already). */
function currentUid(): number | undefined {
  const uid = process.getuid?.();
  return uid === undefined || uid < 0 ? undefined : uid;
}

/** Per user: the temporary folder is shared, and whoever writes this folder decides what CA is trusted. */
export function defaultSimulatorTlsDir(): string {
  return join(tmpdir(), `referrals-export-tls-${currentUid() ?? userInfo().username}`);
}

/**
 * Refuses a folder or file that another user owns or that group or others may write: they could
 * put their own CA in it (trusted by every process of a run) or read and replace the server key.
 * A symbolic link is refused too, since whoever made it chose where it leads.
 */
async function checkPrivate(path: string, kind: "folder" | "file"): Promise<void> {
  let stats: Stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if (kind === "file" && isCode(error, "ENOENT")) return; // not written yet
    throw error;
  }
  const what = kind === "folder" ? "simulator TLS folder" : "simulator TLS file";
  const fix = `remove it (it is regenerated) or use another folder`;
  if (stats.isSymbolicLink()) throw new SimulatorTlsError(`The ${what} ${path} is a symbolic link; ${fix}`);
  if (kind === "folder" ? !stats.isDirectory() : !stats.isFile())
    throw new SimulatorTlsError(
      `The ${what} ${path} is not a ${kind === "folder" ? "directory" : "regular file"}; ${fix}`,
    );
  const uid = currentUid();
  if (uid === undefined) return;
  if (stats.uid !== uid)
    throw new SimulatorTlsError(
      `The ${what} ${path} belongs to user ${stats.uid}, not to this user (${uid}); ${fix}`,
    );
  if ((stats.mode & 0o022) !== 0)
    throw new SimulatorTlsError(
      `The ${what} ${path} can be written by group or others (mode ${(stats.mode & 0o777).toString(8)}); ${fix}, or chmod go-w it`,
    );
}

/**
 * Returns the simulator's CA and server certificate, creating them on first use and keeping them in
 * `dir` so that every process of one test run or demo shares (and trusts) the same CA. The CA's private
 * key is never written: it is only needed once, to sign the server certificate. A folder or file
 * another user owns or may write is refused (SimulatorTlsError) rather than trusted.
 */
export async function createSimulatorTls(dir: string = defaultSimulatorTlsDir()): Promise<SimulatorTls> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Checked once it exists: the folder may be older than this process, or another user's.
  await checkPrivate(dir, "folder");
  const bundlePath = join(dir, BUNDLE_FILE);
  const caFile = join(dir, CA_FILE);
  await checkPrivate(bundlePath, "file");
  await checkPrivate(caFile, "file");
  let bundle = await readBundle(bundlePath);
  if (!bundle || !stillValid(bundle)) {
    const fresh = await generateBundle();
    const tmp = join(dir, `${BUNDLE_FILE}.${randomUUID()}.tmp`);
    await writeFile(tmp, JSON.stringify(fresh), { mode: 0o600 });
    try {
      if (bundle) {
        // Expired: replace it. Concurrent renewals are harmless, everyone re-reads the winner below.
        await rename(tmp, bundlePath);
      } else {
        // link() fails when another process published first; its bundle then wins.
        await link(tmp, bundlePath).catch((error: unknown) => {
          if (!isCode(error, "EEXIST")) throw error;
        });
      }
    } finally {
      await rm(tmp, { force: true });
    }
    bundle = await readBundle(bundlePath);
    if (!bundle) throw new Error(`could not read the simulator TLS bundle at ${bundlePath}`);
  }
  const current = await readFile(caFile, "utf8").catch(() => undefined);
  if (current !== bundle.caCertPem) {
    const tmp = join(dir, `${CA_FILE}.${randomUUID()}.tmp`);
    await writeFile(tmp, bundle.caCertPem, { mode: 0o644 });
    await rename(tmp, caFile);
  }
  return { caCertPem: bundle.caCertPem, caFile, key: bundle.key, cert: bundle.cert };
}

async function readBundle(path: string): Promise<Bundle | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isCode(error, "ENOENT")) return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Bundle>;
    if (
      typeof parsed.caCertPem === "string" &&
      typeof parsed.key === "string" &&
      typeof parsed.cert === "string"
    ) {
      return { caCertPem: parsed.caCertPem, key: parsed.key, cert: parsed.cert };
    }
  } catch {
    // A damaged bundle is simply regenerated.
  }
  return undefined;
}

function stillValid(bundle: Bundle): boolean {
  try {
    const cert = new X509Certificate(bundle.cert);
    const ca = new X509Certificate(bundle.caCertPem);
    const horizon = Date.now() + RENEW_BEFORE_MS;
    return (
      new Date(cert.validTo).getTime() > horizon &&
      new Date(ca.validTo).getTime() > horizon &&
      cert.verify(ca.publicKey)
    );
  } catch {
    return false;
  }
}

async function generateBundle(): Promise<Bundle> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const ca = await generate(
    [{ name: "commonName", value: `referrals-export local simulator CA ${randomUUID().slice(0, 8)}` }],
    {
      algorithm: "sha256",
      keySize: 2048,
      notBeforeDate,
      notAfterDate: new Date(notBeforeDate.getTime() + 2 * 365 * 24 * 3600 * 1000),
      extensions: [
        { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
        { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      ],
    },
  );
  const server = await generate([{ name: "commonName", value: "127.0.0.1" }], {
    algorithm: "sha256",
    keySize: 2048,
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 365 * 24 * 3600 * 1000),
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  return { caCertPem: ca.cert, key: server.private, cert: server.cert };
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}
