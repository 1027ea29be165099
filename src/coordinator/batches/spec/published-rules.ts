// Applies a batch spec's `changesetTemplate.published` to one changeset: the original's rule that the last
// matching entry of the YAML list wins is kept by storing the list reversed (batch-spec.ts: PublishedRule),
// so here the first matching rule wins; no rule matching means unpublished.
import { matchesGlob } from '../../../shared/batch-templating/index.js';
import type { PublishedRule } from './batch-spec.js';

/** Whether a changeset of `repositoryName` on `branch` is published on apply: true, false or 'draft'. */
export function resolvePublished(rules: PublishedRule[], repositoryName: string, branch: string): boolean | 'draft' {
  for (const rule of rules) {
    if (rule.branch !== undefined && rule.branch !== branch) continue;
    if (matchesGlob(repositoryName, rule.glob)) return rule.value;
  }
  return false;
}
