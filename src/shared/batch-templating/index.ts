// The batch spec templating: render step and changeset templates, evaluate `if:`, check templates.
export { BatchTemplateError } from './batch-template-error.js';
export type {
  BatchChangeTemplateContext,
  ChangesetTemplateContext,
  RepositoryTemplateContext,
  StaticTemplateContext,
  StepResultTemplateContext,
  StepsTemplateContext,
  StepTemplateContext,
  TemplateLocation,
} from './batch-template-context.js';
export { BATCH_TEMPLATE_DELIMITERS, evaluateStepIf, isStaticallyFalse, renderChangesetTemplate, renderStepTemplate } from './render-batch-template.js';
export { templateVariablesProblems } from './check-batch-template.js';
export { globToRegExp, matchesGlob } from './glob-pattern.js';
