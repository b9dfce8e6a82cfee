import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { readBody, sendJson } from "./server.js";
import { KEY_VAULT_AUDIENCE, type TokenRegistry } from "./tokenRegistry.js";
import type { SimulatorRoute } from "./types.js";

export interface KeyVaultSimulatorOptions {
  readonly registry: TokenRegistry;
  /** Tenant named in the authentication challenge. */
  readonly tenantId: string;
  /** Origin of the simulated Entra ID for the challenge; defaults to the vault's own origin. */
  readonly authorityOrigin?: string;
}

export interface StoredSecretVersion {
  readonly name: string;
  readonly version: string;
  readonly value: string;
  readonly contentType?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Unix seconds, as Key Vault reports them. */
  readonly created: number;
  readonly updated: number;
}

export interface KeyVaultCounters {
  reads: number;
  writes: number;
  unauthorized: number;
  faults: number;
}

/** Key Vault's documented limit for a secret value. */
const MAX_VALUE_BYTES = 25 * 1024;
const NAME = /^[0-9a-zA-Z-]{1,127}$/;

/**
 * The subset of the Key Vault secrets API that `@azure/keyvault-secrets`' SecretClient needs: get
 * (latest or a version), set (a new version each time), list versions, with Key Vault's challenge-based
 * bearer authentication and its error shapes. Faults can be injected for retry tests.
 */
export class KeyVaultSimulator {
  readonly route: SimulatorRoute;
  readonly counters: KeyVaultCounters = { reads: 0, writes: 0, unauthorized: 0, faults: 0 };
  private readonly secrets = new Map<string, StoredSecretVersion[]>();
  private faults: { remaining: number; kind: number | "drop" } = { remaining: 0, kind: 503 };

  constructor(private readonly options: KeyVaultSimulatorOptions) {
    this.route = (req, res, url) => this.handle(req, res, url);
  }

  /** The next `count` vault requests fail with this status, or have their connection dropped. */
  failNext(count: number, kind: number | "drop" = 503): void {
    this.faults = { remaining: count, kind };
  }

  /** Stores a secret version directly (seeding test data); returns it. */
  seedSecret(
    name: string,
    value: string,
    options: { contentType?: string; tags?: Record<string, string> } = {},
  ): StoredSecretVersion {
    return this.store(name, value, options.contentType, options.tags);
  }

  current(name: string): StoredSecretVersion | undefined {
    return this.secrets.get(name)?.at(-1);
  }

  versions(name: string): readonly StoredSecretVersion[] {
    return this.secrets.get(name) ?? [];
  }

  deleteSecret(name: string): boolean {
    return this.secrets.delete(name);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const match = /^\/secrets(?:\/([^/]+)(?:\/([^/]*))?)?\/?$/.exec(url.pathname);
    if (!match) return false;
    if (this.faults.remaining > 0) {
      this.faults.remaining--;
      this.counters.faults++;
      await readBody(req).catch(() => "");
      if (this.faults.kind === "drop") {
        req.socket.destroy();
      } else {
        sendVaultError(
          res,
          this.faults.kind,
          "ServiceUnavailable",
          "The service is temporarily unavailable (simulated fault).",
        );
      }
      return true;
    }
    const origin = originOf(req);
    const verdict = this.options.registry.verifyFor(KEY_VAULT_AUDIENCE, req.headers.authorization);
    if (verdict !== "ok") {
      this.counters.unauthorized++;
      await readBody(req).catch(() => "");
      const authority = `${this.options.authorityOrigin ?? origin}/${this.options.tenantId}`;
      const message =
        verdict === "missing"
          ? "AKV10000: Request is missing a Bearer or PoP token."
          : verdict === "expired"
            ? "AKV10022: Invalid token: the token has expired."
            : "AKV10022: Invalid audience or token.";
      sendVaultError(res, 401, "Unauthorized", message, {
        "www-authenticate": `Bearer authorization="${authority}", resource="${KEY_VAULT_AUDIENCE}"`,
      });
      return true;
    }
    const name = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
    const second = match[2] === undefined || match[2] === "" ? undefined : decodeURIComponent(match[2]);
    const method = req.method ?? "GET";

    if (name === undefined) {
      if (method !== "GET") return methodNotAllowed(res);
      this.counters.reads++;
      sendJson(res, 200, {
        value: [...this.secrets.values()].flatMap((v) => v.slice(-1)).map((v) => this.item(origin, v, false)),
        nextLink: null,
      });
      return true;
    }
    if (!NAME.test(name)) {
      sendVaultError(res, 400, "BadParameter", "The request URI contains an invalid name: " + name);
      return true;
    }
    if (method === "PUT" && second === undefined) {
      await this.put(req, res, origin, name);
      return true;
    }
    if (method !== "GET") return methodNotAllowed(res);
    this.counters.reads++;
    const versions = this.secrets.get(name);
    if (second === "versions") {
      if (!versions) return notFound(res, name);
      sendJson(res, 200, { value: versions.map((v) => this.item(origin, v, true)), nextLink: null });
      return true;
    }
    const found = second === undefined ? versions?.at(-1) : versions?.find((v) => v.version === second);
    if (!found) return notFound(res, second === undefined ? name : `${name}/${second}`);
    sendJson(res, 200, { ...this.item(origin, found, true), value: found.value });
    return true;
  }

  private async put(req: IncomingMessage, res: ServerResponse, origin: string, name: string): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, 1_000_000));
    } catch {
      sendVaultError(res, 400, "BadParameter", "The request body is not valid JSON.");
      return;
    }
    const input = body as { value?: unknown; contentType?: unknown; tags?: unknown };
    if (typeof input.value !== "string") {
      sendVaultError(res, 400, "BadParameter", "Property 'value' is required and must be a string.");
      return;
    }
    if (Buffer.byteLength(input.value) > MAX_VALUE_BYTES) {
      sendVaultError(
        res,
        400,
        "BadParameter",
        `The secret value exceeds the maximum size of ${MAX_VALUE_BYTES} bytes.`,
      );
      return;
    }
    const tags = isStringRecord(input.tags) ? input.tags : undefined;
    const contentType = typeof input.contentType === "string" ? input.contentType : undefined;
    this.counters.writes++;
    const stored = this.store(name, input.value, contentType, tags);
    sendJson(res, 200, { ...this.item(origin, stored, true), value: stored.value });
  }

  private store(
    name: string,
    value: string,
    contentType?: string,
    tags?: Record<string, string>,
  ): StoredSecretVersion {
    const now = Math.floor(Date.now() / 1000);
    const version: StoredSecretVersion = {
      name,
      version: randomBytes(16).toString("hex"),
      value,
      created: now,
      updated: now,
      ...(contentType === undefined ? {} : { contentType }),
      ...(tags === undefined ? {} : { tags: { ...tags } }),
    };
    const list = this.secrets.get(name) ?? [];
    list.push(version);
    this.secrets.set(name, list);
    return version;
  }

  private item(origin: string, v: StoredSecretVersion, withVersion: boolean): Record<string, unknown> {
    return {
      id: withVersion ? `${origin}/secrets/${v.name}/${v.version}` : `${origin}/secrets/${v.name}`,
      attributes: {
        enabled: true,
        created: v.created,
        updated: v.updated,
        recoveryLevel: "Recoverable+Purgeable",
        recoverableDays: 90,
      },
      ...(v.contentType === undefined ? {} : { contentType: v.contentType }),
      ...(v.tags === undefined ? {} : { tags: v.tags }),
    };
  }
}

export function createKeyVaultSimulator(options: KeyVaultSimulatorOptions): KeyVaultSimulator {
  return new KeyVaultSimulator(options);
}

function sendVaultError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

function notFound(res: ServerResponse, what: string): true {
  sendVaultError(
    res,
    404,
    "SecretNotFound",
    `A secret with (name/id) ${what} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`,
  );
  return true;
}

function methodNotAllowed(res: ServerResponse): true {
  sendVaultError(res, 405, "MethodNotAllowed", "The method is not supported by the simulator.");
  return true;
}

function originOf(req: IncomingMessage): string {
  const scheme = (req.socket as Partial<TLSSocket>).encrypted ? "https" : "http";
  return `${scheme}://${req.headers.host ?? "127.0.0.1"}`;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value as Record<string, unknown>).every((v) => typeof v === "string")
  );
}
