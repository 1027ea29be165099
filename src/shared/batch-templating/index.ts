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
export { evaluateStepIf, isStaticallyFalse, renderChangesetTemplate, renderStepTemplate, templateVariablesProblems } from './render-batch-template.js';
