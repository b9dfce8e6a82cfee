import { startAzurite, type AzuriteHandle } from "../../src/simulator/azurite.js";

let azurite: AzuriteHandle | undefined;

/** One Azurite for the whole run; suites isolate themselves with their own container names. */
export async function setup(project: {
  provide: (key: "azuriteConnectionString", value: string) => void;
}): Promise<void> {
  azurite = await startAzurite();
  project.provide("azuriteConnectionString", azurite.connectionString);
}

export async function teardown(): Promise<void> {
  await azurite?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    azuriteConnectionString: string;
  }
}
