import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { RecordedRequest, SimulatorRoute } from "./types.js";

export interface SimulatorServerOptions {
  /** Route modules tried in order; the first that returns true handled the request. */
  readonly routes: readonly SimulatorRoute[];
  /** Serve HTTPS with this key/certificate (PEM); plain HTTP when absent. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Loopback only; 0 picks a free port. */
  readonly port?: number;
}

export interface SimulatorServer {
  /** Origin such as `https://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Forgets recorded requests. */
  clearRequests(): void;
  close(): Promise<void>;
}

const HOST = "127.0.0.1";

/** Starts an HTTP(S) server on loopback that records every request and dispatches it to the routes. */
export async function startSimulatorServer(options: SimulatorServerOptions): Promise<SimulatorServer> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    requests.push({
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams.entries()),
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]),
      ),
      at: Date.now(),
    });
    void dispatch(options.routes, req, res, url);
  };

  const server: Server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler)
    : createHttpServer(handler);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const scheme = options.tls ? "https" : "http";

  return {
    url: `${scheme}://${HOST}:${port}`,
    port,
    requests,
    clearRequests: () => {
      requests.length = 0;
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

async function dispatch(
  routes: readonly SimulatorRoute[],
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  try {
    for (const route of routes) {
      if (await route(req, res, url)) return;
    }
    sendJson(res, 404, {
      code: "NotFound",
      description: `No simulator route for ${req.method ?? "GET"} ${url.pathname}`,
    });
  } catch (error) {
    if (!res.headersSent) {
      sendJson(res, 500, {
        code: "SimulatorError",
        description: error instanceof Error ? error.message : String(error),
      });
    } else {
      res.destroy();
    }
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Reads a request body (bounded) as text. */
export async function readBody(req: IncomingMessage, limitBytes = 1_000_000): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new Error(`request body over ${limitBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
