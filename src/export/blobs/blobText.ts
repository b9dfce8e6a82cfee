import { StringDecoder } from "node:string_decoder";
import type { ContainerClient } from "@azure/storage-blob";

/** Text of a blob, decoded as UTF-8 chunk by chunk. */
export async function* blobText(
  container: ContainerClient,
  path: string,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const response = await container.getBlobClient(path).download(0, undefined, { abortSignal: signal });
  const body = response.readableStreamBody;
  if (!body) throw new Error(`blob ${path} has no body`);
  const decoder = new StringDecoder("utf8");
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const part = typeof chunk === "string" ? chunk : decoder.write(chunk);
    if (part.length > 0) yield part;
  }
  const rest = decoder.end();
  if (rest.length > 0) yield rest;
}
