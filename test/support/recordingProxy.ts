import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import type { AddressInfo, Socket } from "node:net";

/**
 * A reverse proxy on loopback that forwards every request unchanged to one target (Azurite's blob
 * or queue endpoint, the simulator's Key Vault) and records what was asked: method, path, query and
 * the headers that decide which storage operation a request is. Pointing the product's settings at
 * it shows every operation a code path performs, without changing the product.
 */

/** Headers kept in the record: the ones that tell storage operations apart (lease, copy, conditions). */
const KEPT_HEADERS = [
  "x-ms-lease-action",
  "x-ms-lease-id",
  "x-ms-blob-type",
  "x-ms-copy-source",
  "x-ms-version",
  "if-none-match",
  "if-match",
] as const;

export interface ProxiedRequest {
  /** Who the test says is calling (set with `actAs`). */
  readonly actor: string;
  readonly method: string;
  /** The path as sent, percent-decoded. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the request carried credentials (an Authorization header or a SAS signature). */
  readonly authenticated: boolean;
  /** The target's answer; 0 when it never answered. */
  status: number;
}

export interface RecordingProxy {
  /** Origin such as `http://127.0.0.1:PORT` (or https with `tls`). */
  readonly url: string;
  readonly requests: ProxiedRequest[];
  /** Requests from now on are recorded as made by `actor`. */
  actAs(actor: string): void;
  close(): Promise<void>;
}

export interface RecordingProxyOptions {
  /** Origin the requests are forwarded to, e.g. `http://127.0.0.1:10000`. */
  readonly target: string;
  /** Serve HTTPS with this key/certificate (PEM): Key Vault clients refuse plain http. */
  readonly tls?: { readonly key: string; readonly cert: string };
}

const HOST = "127.0.0.1";

export async function startRecordingProxy(options: RecordingProxyOptions): Promise<RecordingProxy> {
  const target = new URL(options.target);
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  let actor = "unknown";

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const query = Object.fromEntries(url.searchParams.entries());
    const record: ProxiedRequest = {
      actor,
      method: req.method ?? "GET",
      path: decodeURIComponent(url.pathname),
      query,
      headers,
      authenticated: req.headers.authorization !== undefined || query.sig !== undefined,
      status: 0,
    };
    requests.push(record);
    const upstream = send(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // The host header is not signed (Shared Key signs the path), so the target's own is sent.
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        record.status = answer.statusCode ?? 0;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  };

  const server: Server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler)
    : createHttpServer(handler);
  for (const event of ["connection", "secureConnection"] as const) {
    server.on(event, (socket: Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `${options.tls ? "https" : "http"}://${HOST}:${port}`,
    requests,
    actAs(next) {
      actor = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
