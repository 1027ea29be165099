// The checks of a spec's templates before anything runs (the original's spec validation): the template
// parses, names only the variables and functions of where it is written, and only their fields.
import { GoTemplateError, GoTemplateSet, type ArgNode, type PipeNode, type TemplateNode } from '../go-template/index.js';
import { BATCH_TEMPLATE_FUNCTIONS } from './batch-template-functions.js';
import { BATCH_TEMPLATE_DELIMITERS, CONTEXT_FIELDS, LOCATION_NAMES, toBatchTemplateError } from './render-batch-template.js';
import type { TemplateLocation } from './batch-template-context.js';

/** Unknown variables or functions, fields the contexts don't have, and parse errors of a template written at `where`. */
export function templateVariablesProblems(text: string, where: TemplateLocation): string[] {
  if (!text.includes(BATCH_TEMPLATE_DELIMITERS[0])) return [];
  const names: readonly string[] = LOCATION_NAMES[where];
  const functions = Object.fromEntries(names.map((n) => [n, () => null]));
  const set = new GoTemplateSet({ delimiters: BATCH_TEMPLATE_DELIMITERS, missingKey: 'error', functions: { ...BATCH_TEMPLATE_FUNCTIONS, ...functions } });
  try {
    set.parse('template', text);
  } catch (err) {
    if (err instanceof GoTemplateError) return [toBatchTemplateError(err, text, names).message];
    throw err;
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  const report = (message: string) => {
    if (!seen.has(message)) problems.push(message);
    seen.add(message);
  };
  const checkArg = (arg: ArgNode): void => {
    if (arg.type === 'pipe') return checkPipe(arg.pipe);
    if (arg.type === 'identifier' && arg.name === 'step' && where !== 'outputs') {
      return report(`template ${JSON.stringify(text)}: step is only available in a step's outputs (after the step ran); use previous_step for the step before`);
    }
    if (arg.type !== 'chain') return;
    if (arg.node.type !== 'identifier') return checkArg(arg.node);
    const head = arg.node.name;
    if (head === 'step' && where !== 'outputs') checkArg(arg.node);
    const fields = (CONTEXT_FIELDS as Record<string, readonly string[]>)[head];
    const field = arg.fields[0]!;
    if (fields && !fields.includes(field)) report(`template ${JSON.stringify(text)}: ${arg.text}: ${head} has no field "${field}" (it has: ${fields.join(', ')})`);
  };
  // Go checks a function's argument count only when it runs; here it is checked before, where the count is
  // known from the text (a piped value counts as the last argument).
  const checkArity = (args: ArgNode[], piped: boolean): void => {
    const head = args[0];
    if (head?.type !== 'identifier') return;
    const arity = set.functionArity(head.name);
    if (!arity) return;
    const count = args.length - 1 + (piped ? 1 : 0);
    if (count < arity.min || (arity.max !== undefined && count > arity.max)) {
      const want = arity.max === arity.min ? `${arity.min}` : arity.max === undefined ? `at least ${arity.min}` : `${arity.min} to ${arity.max}`;
      report(`template ${JSON.stringify(text)}: ${head.name} takes ${want} argument${want === '1' ? '' : 's'}, given ${count}`);
    }
  };
  const checkPipe = (pipe: PipeNode): void => {
    for (const [i, cmd] of pipe.cmds.entries()) {
      checkArity(cmd.args, i > 0);
      for (const arg of cmd.args) checkArg(arg);
    }
  };
  const checkNodes = (nodes: TemplateNode[]): void => {
    for (const node of nodes) {
      switch (node.type) {
        case 'action':
          checkPipe(node.pipe);
          break;
        case 'if':
        case 'with':
        case 'range':
          checkPipe(node.pipe);
          checkNodes(node.list);
          if (node.elseList) checkNodes(node.elseList);
          break;
        case 'template':
          if (node.pipe) checkPipe(node.pipe);
          break;
      }
    }
  };
  checkNodes(set.nodes('template') ?? []);
  return problems;
}
