// The ChangesetHook the coordinator uses until the changeset side is connected: it records nothing.
// 🔌 The seam the lead connects: replace NO_CHANGESETS in Coordinator (coordinator.ts) with the changeset
// side's implementation (issue 15, §3).
import type { ChangesetHook } from './changeset-hook.js';

export const NO_CHANGESETS: ChangesetHook = {
  async workspaceCompleted() {},
  async executionStarted() {},
};
