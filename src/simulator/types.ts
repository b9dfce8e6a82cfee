import type { IncomingMessage, ServerResponse } from "node:http";

/** One request the simulator received, kept so tests can assert on what was sent. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly at: number;
}

/**
 * A simulator route module (Partner Center, Entra token endpoint, Key Vault). It returns
 * true when it handled the request, false to let the next module try.
 */
export type SimulatorRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/** What the Partner Center route thinks of a request's Authorization header. */
export type TokenVerdict = "ok" | "missing" | "invalid" | "expired" | "app-only";

/** Decides whether a bearer token is one the simulator issued for the delegated scope. */
export interface TokenVerifier {
  verify(authorization: string | undefined): TokenVerdict;
}
