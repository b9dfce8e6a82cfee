import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { AuthError } from "./errors.js";

/** What MSAL 7 needs to sign client assertions with a certificate. */
export interface ClientCertificate {
  /** SHA-256 thumbprint, hex, for the `x5t#S256` header. */
  readonly thumbprintSha256: string;
  /** PKCS#8 PEM private key. */
  readonly privateKey: string;
  /** Leaf first, then the rest of the chain, PEM; sent as `x5c` (subject name + issuer auth). */
  readonly x5c: string;
  readonly notAfter: Date;
  readonly subject: string;
}

/**
 * Parses a PEM bundle holding one private key and its certificate (plus any chain), as Key Vault
 * returns for a certificate created with content type `application/x-pem-file`, or as a plain secret.
 */
export function parseCertificateBundle(text: string, name: string, contentType?: string): ClientCertificate {
  if (contentType === "application/x-pkcs12" || !text.includes("-----BEGIN")) {
    throw new AuthError(
      "app_credential",
      `Key Vault certificate '${name}' is not PEM (content type ${contentType ?? "unknown"}). Create it with content type application/x-pem-file, or store a PEM secret holding the private key and the certificate.`,
    );
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) {
    throw new AuthError(
      "app_credential",
      `The private key in '${name}' is encrypted; store it unencrypted (Key Vault protects it).`,
    );
  }
  const keyPem =
    /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(text)?.[0];
  if (keyPem === undefined) throw new AuthError("app_credential", `'${name}' holds no private key`);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new AuthError("app_credential", `The private key in '${name}' could not be read`, { cause: error });
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new AuthError(
      "app_credential",
      `The key in '${name}' is ${key.asymmetricKeyType ?? "unknown"}; Entra client assertions from MSAL need an RSA key`,
    );
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const certificates = pems.map((pem) => ({ pem, x509: new X509Certificate(pem) }));
  const leaf = certificates.find((c) => c.x509.checkPrivateKey(key));
  if (!leaf) throw new AuthError("app_credential", `'${name}' holds no certificate matching its private key`);
  const notAfter = new Date(leaf.x509.validTo);
  const chain = [leaf, ...certificates.filter((c) => c !== leaf)].map((c) => c.pem).join("\n");
  return {
    thumbprintSha256: leaf.x509.fingerprint256.replace(/:/g, "").toLowerCase(),
    privateKey: key.export({ type: "pkcs8", format: "pem" }).toString(),
    x5c: chain,
    notAfter,
    subject: leaf.x509.subject,
  };
}
