// How the changeset side finds a batch change by name for a request, without depending on the batch store.
import type { BatchSpec } from './spec/batch-spec.js';

export interface BatchChangeRef {
  id: number;
  name: string;
  /** The namespace's name (a user's username or an org's name). */
  namespace: string;
  /** The user whose token created it (its changesets are authored for them when the spec names no author). */
  ownerUserId: number;
  spec: BatchSpec;
}

export interface BatchChangeLookup {
  /** The batch change named `name` in `namespace` (default: the actor's own), if the actor may see it; else undefined. */
  findByName(actorUserId: number | null, isAdmin: boolean, name: string, namespace?: string): Promise<BatchChangeRef | undefined>;
}
