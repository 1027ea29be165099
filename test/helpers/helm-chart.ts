// Renders a Helm chart as `helm template` would, for tests on machines without a helm binary: values.yaml
// merged with the test's values and checked against values.schema.json (as helm does before rendering),
// the templates rendered by the Go-template engine in go-template.ts, the output split into documents.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import yaml from 'js-yaml';
import { GoTemplateEngine } from './go-template.js';

export interface RenderedChart {
  /** Every object, in file order. */
  objects: Array<{ apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: unknown }>;
  /** NOTES.txt as rendered. */
  notes: string;
}

/** Merges `override` into `base`: maps key by key, everything else replaced. */
function merge(base: unknown, override: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof override !== 'object' || override === null || Array.isArray(override)) return override;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(override)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}

/** The chart's default values (values.yaml). */
export function chartValues(chartDir: string): Record<string, unknown> {
  return yaml.load(fs.readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
}

/** Problems of `values` against the chart's values.schema.json (empty when valid). */
export function schemaProblems(chartDir: string, values: unknown): string[] {
  const schema = JSON.parse(fs.readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  if (validate(values)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'invalid'}${e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : ''}`);
}

/** `helm template <release> <chartDir> --namespace <namespace> -f <values>`. Throws like helm on bad values. */
export function renderChart(chartDir: string, options: { values?: Record<string, unknown>; releaseName?: string; namespace?: string } = {}): RenderedChart {
  const chart = yaml.load(fs.readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as { name: string; version: string; appVersion?: string };
  const values = merge(chartValues(chartDir), options.values ?? {}) as Record<string, unknown>;
  const problems = schemaProblems(chartDir, values);
  if (problems.length > 0) throw new Error(`values don't meet the specifications of the schema(s): ${problems.join('; ')}`);

  const engine = new GoTemplateEngine();
  const templatesDir = path.join(chartDir, 'templates');
  const files = fs.readdirSync(templatesDir).sort();
  const parsed = new Map<string, ReturnType<GoTemplateEngine['add']>>();
  // Helpers first: their defines are what the other files include.
  for (const file of [...files.filter((f) => f.startsWith('_')), ...files.filter((f) => !f.startsWith('_'))]) {
    parsed.set(file, engine.add(fs.readFileSync(path.join(templatesDir, file), 'utf8'), `${chart.name}/templates/${file}`));
  }
  const data = {
    Values: values,
    Release: { Name: options.releaseName ?? 'executor', Namespace: options.namespace ?? 'executors', Service: 'Helm', IsInstall: true, IsUpgrade: false },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion ?? '' },
    Capabilities: { KubeVersion: { Version: 'v1.31.0', Major: '1', Minor: '31' } },
    Template: { BasePath: `${chart.name}/templates`, Name: '' },
  };
  const objects: RenderedChart['objects'] = [];
  let notes = '';
  for (const file of files) {
    if (file.startsWith('_')) continue;
    const text = engine.render(parsed.get(file)!, { ...data, Template: { ...data.Template, Name: `${chart.name}/templates/${file}` } });
    if (file === 'NOTES.txt') {
      notes = text;
      continue;
    }
    for (const doc of text.split(/^---\s*$/m)) {
      let object: unknown;
      try {
        object = yaml.load(doc);
      } catch (err) {
        throw new Error(`${file}: the rendered YAML does not parse: ${(err as Error).message}\n${doc}`);
      }
      if (object) objects.push(object as RenderedChart['objects'][number]);
    }
  }
  return { objects, notes };
}
