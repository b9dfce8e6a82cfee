import type { ExportFormat } from "../export/layout.js";
import type { ValidatedQuery } from "../partnerCenter/query.js";

/** A configured export: the unit of scheduling and of the blob path (`{name}/latest/`). */
export interface ExportProfile {
  readonly name: string;
  readonly query: ValidatedQuery;
  readonly formats: readonly ExportFormat[];
  readonly schedule: boolean;
}
