import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";

/**
 * Adds the local simulator's CA (a PEM file, `LOCAL_CA_CERT_FILE`) to this process's default trust
 * store, so MSAL (fetch), `@azure/identity` and the Azure SDK clients (node:https) verify the
 * simulator's certificate like any other. TLS verification itself stays on; only local mode calls this.
 * Calling it again with the same CA changes nothing.
 */
export function trustLocalCa(pemFile: string): void {
  const pem = readFileSync(pemFile, "utf8");
  const certificates = splitPem(pem);
  if (certificates.length === 0) {
    throw new Error(`LOCAL_CA_CERT_FILE ${pemFile} holds no PEM certificate`);
  }
  for (const certificate of certificates) {
    // Parse first so a damaged file fails here, with its name, not at the first TLS handshake.
    new X509Certificate(certificate);
  }
  const current = tls.getCACertificates("default");
  const known = new Set(current.map(normalise));
  const missing = certificates.filter((c) => !known.has(normalise(c)));
  if (missing.length === 0) return;
  tls.setDefaultCACertificates([...current, ...missing]);
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function normalise(pem: string): string {
  return pem.replace(/\s+/g, "");
}
