import { isTokenCredential } from "@azure/core-auth";
import {
  BlobSASPermissions,
  SASProtocol,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  type BlobSASSignatureValues,
  type UserDelegationKey,
} from "@azure/storage-blob";
import type { RunRecord } from "./runStore.js";

/**
 * Time-limited, read-only links to single export blobs (service SAS, `sp=r`, `sr=b`).
 *
 * With a Microsoft Entra credential (Azure) a link is a user delegation SAS: signed with a key
 * that Storage issues to the app's identity, so no account key exists anywhere. With a shared key
 * (Azurite, through a connection string) the same link is signed with that key instead.
 */

/** A link starts this long before it is signed, so clocks a little apart do not refuse it. */
export const READ_LINK_CLOCK_SKEW_MS = 5 * 60_000;
/** A delegation key is requested for the link lifetime plus this, and reused meanwhile. */
export const DELEGATION_KEY_REUSE_MS = 24 * 60 * 60_000;

export interface ReadLink {
  /** The blob's URL with the SAS: anyone holding it can read that one blob until `expiresOn`. */
  readonly url: string;
  /** RFC 3339 UTC. */
  readonly expiresOn: string;
}

export interface ReadLinkSigner {
  /** Read links to these blobs of the export container, in the same order, all with one expiry. */
  sign(blobNames: readonly string[]): Promise<ReadLink[]>;
}

/** The part of a BlobServiceClient that hands out user delegation keys. */
export interface DelegationKeySource {
  getUserDelegationKey(startsOn: Date, expiresOn: Date): Promise<UserDelegationKey>;
}

/** The part of a BlobServiceClient the signer needs. */
export interface ReadLinkService extends DelegationKeySource {
  readonly accountName: string;
  readonly credential: unknown;
}

/** The part of a ContainerClient the signer needs. */
export interface ReadLinkContainer {
  readonly containerName: string;
  getBlobClient(blobName: string): { readonly url: string };
}

export interface ReadLinkOptions {
  readonly lifetimeMinutes: number;
  /** Lets links work over http as well (Azurite's http endpoint, local mode only). Default https only. */
  readonly allowHttp?: boolean;
  readonly now?: () => Date;
}

export class ReadLinkError extends Error {
  override readonly name = "ReadLinkError";
  readonly reason = "signing_failed";
}

export function isReadLinkError(error: unknown): error is ReadLinkError {
  return error instanceof ReadLinkError;
}

/** Signs SAS query strings for the given values. */
type SasSigner = (values: BlobSASSignatureValues) => Promise<string>;

/**
 * Holds one user delegation key per process and reuses it while it outlives the links being
 * signed, so signing does not ask Microsoft Entra ID and Storage for a key on every request.
 */
export class DelegationKeyCache {
  private key: UserDelegationKey | undefined;
  private pending: Promise<UserDelegationKey> | undefined;
  private readonly reuseMs: number;

  constructor(
    private readonly source: DelegationKeySource,
    options: { readonly reuseMs?: number } = {},
  ) {
    this.reuseMs = options.reuseMs ?? DELEGATION_KEY_REUSE_MS;
  }

  /** A key valid from `startsOn` (or earlier) until `expiresOn` (or later). */
  async keyFor(startsOn: Date, expiresOn: Date): Promise<UserDelegationKey> {
    const fits = (k: UserDelegationKey | undefined): k is UserDelegationKey =>
      k !== undefined &&
      k.signedStartsOn.getTime() <= startsOn.getTime() &&
      k.signedExpiresOn.getTime() >= expiresOn.getTime();
    if (fits(this.key)) return this.key;
    // Requests that arrive while a key is on its way share it.
    if (this.pending) {
      const shared = await this.pending;
      if (fits(shared)) return shared;
    }
    const request = this.request(startsOn, expiresOn);
    this.pending = request;
    try {
      return await request;
    } finally {
      if (this.pending === request) this.pending = undefined;
    }
  }

  private async request(startsOn: Date, expiresOn: Date): Promise<UserDelegationKey> {
    const response = await this.source.getUserDelegationKey(
      startsOn,
      new Date(expiresOn.getTime() + this.reuseMs),
    );
    // Keep the key's fields only, not the HTTP response that came with it.
    const key: UserDelegationKey = {
      signedObjectId: response.signedObjectId,
      signedTenantId: response.signedTenantId,
      signedStartsOn: response.signedStartsOn,
      signedExpiresOn: response.signedExpiresOn,
      signedService: response.signedService,
      signedVersion: response.signedVersion,
      value: response.value,
      ...(response.signedDelegatedUserTenantId !== undefined
        ? { signedDelegatedUserTenantId: response.signedDelegatedUserTenantId }
        : {}),
    };
    this.key = key;
    return key;
  }
}

/**
 * A signer for the export container: user delegation SAS with a token credential, service SAS
 * with a shared key. Anything else (an anonymous or SAS connection string) cannot sign.
 */
export function createReadLinkSigner(
  service: ReadLinkService,
  container: ReadLinkContainer,
  options: ReadLinkOptions,
): ReadLinkSigner {
  const now = options.now ?? (() => new Date());
  const credential = service.credential;
  let sign: SasSigner;
  if (credential instanceof StorageSharedKeyCredential) {
    sign = (values) => Promise.resolve(generateBlobSASQueryParameters(values, credential).toString());
  } else if (isTokenCredential(credential)) {
    const keys = new DelegationKeyCache(service);
    sign = async (values) => {
      const key = await keys.keyFor(values.startsOn ?? now(), values.expiresOn ?? now());
      return generateBlobSASQueryParameters(values, key, service.accountName).toString();
    };
  } else {
    sign = () =>
      Promise.reject(
        new ReadLinkError(
          "read links need a Microsoft Entra credential (EXPORT_STORAGE_ACCOUNT_URL) or a connection string with an account key",
        ),
      );
  }
  return new BlobReadLinkSigner(container, sign, { ...options, now });
}

class BlobReadLinkSigner implements ReadLinkSigner {
  constructor(
    private readonly container: ReadLinkContainer,
    private readonly sas: SasSigner,
    private readonly options: ReadLinkOptions & { readonly now: () => Date },
  ) {
    if (!Number.isInteger(options.lifetimeMinutes) || options.lifetimeMinutes < 1)
      throw new RangeError("lifetimeMinutes must be a whole number of at least 1");
  }

  async sign(blobNames: readonly string[]): Promise<ReadLink[]> {
    // Whole seconds: a SAS carries its times without milliseconds.
    const signedAt = Math.floor(this.options.now().getTime() / 1000) * 1000;
    const startsOn = new Date(signedAt - READ_LINK_CLOCK_SKEW_MS);
    const expiresOn = new Date(signedAt + this.options.lifetimeMinutes * 60_000);
    const links: ReadLink[] = [];
    for (const blobName of blobNames) {
      const query = await this.sas({
        containerName: this.container.containerName,
        blobName,
        permissions: BlobSASPermissions.parse("r"),
        startsOn,
        expiresOn,
        protocol: this.options.allowHttp === true ? SASProtocol.HttpsAndHttp : SASProtocol.Https,
      });
      links.push({
        url: `${this.container.getBlobClient(blobName).url}?${query}`,
        expiresOn: expiresOn.toISOString(),
      });
    }
    return links;
  }
}

export interface RunReadLinks {
  /** One per file of the run, in the order of `run.files`. */
  readonly files: readonly ReadLink[];
  /** The manifest's link, when the run names its manifest. */
  readonly manifest: ReadLink | undefined;
}

/** Links to a run's data files and its manifest. */
export async function runReadLinks(run: RunRecord, signer: ReadLinkSigner): Promise<RunReadLinks> {
  const files = (run.files ?? []).map((f) => f.path);
  const names = run.manifestPath === undefined ? files : [...files, run.manifestPath];
  const links = await signer.sign(names);
  return {
    files: links.slice(0, files.length),
    manifest: run.manifestPath === undefined ? undefined : links[files.length],
  };
}
