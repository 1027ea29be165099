// Executor heartbeat metrics: parse the Prometheus text dump an executor sends, keep the families an executor
// may forward, label them with the executor's sg_instance/sg_job, and write them back as normalized text that
// forwarded-metrics.ts can merge without parsing it again.

/** Largest dump accepted by default, in UTF-8 bytes. */
export const MAX_METRICS_DUMP_BYTES = 4 * 1024 * 1024;

/** Families the executor's own registry exposes that the original drops before forwarding (reference §7.7). */
const FILTERED_PREFIXES = ['go_', 'process_', 'promhttp_'] as const;

/**
 * What an executor forwards in the original (reference §7.7): its own metrics (`src_executor_*`, the
 * command and API-client metrics `src_apiworker_*`), node_exporter's (`node_*`) and the docker registry
 * mirror's (`registry_*`). Anything else in a dump is not an executor's to put on the coordinator's page.
 */
export const FORWARDED_METRIC_PREFIXES: readonly string[] = ['src_executor_', 'src_apiworker_', 'node_', 'registry_'];

/** Which families of a dump are kept. */
export interface ForwardingRules {
  /** A family is kept only when its name starts with one of these. */
  allowedPrefixes: readonly string[];
  /**
   * Names the coordinator's own registry exposes (with their `_bucket`, `_sum`, `_count`… sample names):
   * dropped whatever the prefix, so `src_executor_total`, the autoscaling signal, is the coordinator's alone.
   */
  reservedNames: ReadonlySet<string>;
  /** Largest dump parsed, in UTF-8 bytes; a larger one is refused before parsing. */
  maxInputBytes: number;
}

/** The sample names a family of that name may have, for ForwardingRules.reservedNames. */
export function familySampleNames(family: string): string[] {
  return [family, ...['_bucket', '_sum', '_count', '_total', '_created', '_info'].map((suffix) => family + suffix)];
}

const INSTANCE_LABEL = 'sg_instance';
const JOB_LABEL = 'sg_job';
const EXECUTOR_JOB = 'sourcegraph-executors';
/** The sg_instance the original's executor gives the registry mirror's metrics, and their sg_job. */
const REGISTRY_INSTANCE = 'docker-registry';
const REGISTRY_JOB = 'sourcegraph-executors-registry';

type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
const METRIC_TYPES: ReadonlySet<string> = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

interface Sample {
  name: string;
  labels: Array<[string, string]>;
  /** The value as written (finite numbers), or the canonical `+Inf`, `-Inf`, `NaN`. */
  value: string;
  timestamp: string | undefined;
}

/** A parsed dump, in line order: the first HELP/TYPE line of each family, and each sample. */
type Item = { kind: 'declaration'; name: string } | { kind: 'sample'; sample: Sample };

interface ParsedDump {
  items: Item[];
  help: Map<string, string>;
  types: Map<string, MetricType>;
}

interface Family {
  type: MetricType;
  help: string | undefined;
  lines: string[];
  seen: Set<string>;
}

/**
 * Parses an executor's Prometheus text-format dump, keeps the families `rules` allow (never `go_*`,
 * `process_*`, `promhttp_*`), sets `sg_instance="<executorName>"` on every sample — whatever the dump said:
 * an executor speaks for itself only — and `sg_job="sourcegraph-executors"` (`sourcegraph-executors-registry`
 * for samples the executor marked `sg_instance="docker-registry"`, the registry mirror's, as the original
 * tells them apart), and returns the normalized exposition text: per family its HELP, its TYPE, then its
 * samples, one per line. An empty dump gives an empty string.
 *
 * @throws Error naming the line and the problem when the dump is malformed or larger than `rules.maxInputBytes`.
 */
export function labelExecutorMetrics(dump: string, executorName: string, rules: ForwardingRules): string {
  const parsed = parseExposition(dump, rules.maxInputBytes);
  const kept = (name: string) => rules.allowedPrefixes.some((prefix) => name.startsWith(prefix)) && !rules.reservedNames.has(name) && !FILTERED_PREFIXES.some((prefix) => name.startsWith(prefix));
  const items: Item[] = [];
  for (const item of parsed.items) {
    if (!kept(item.kind === 'declaration' ? item.name : item.sample.name)) continue;
    if (item.kind === 'sample') addExecutorLabels(item.sample, executorName);
    items.push(item);
  }
  const families = new Map<string, Family>();
  mergeInto(families, { ...parsed, items });
  return serialize(families);
}

function addExecutorLabels(sample: Sample, executorName: string): void {
  const claimed = sample.labels.find(([name]) => name === INSTANCE_LABEL)?.[1];
  const job = claimed === REGISTRY_INSTANCE ? REGISTRY_JOB : EXECUTOR_JOB;
  let hasInstance = false;
  let hasJob = false;
  for (const label of sample.labels) {
    if (label[0] === INSTANCE_LABEL) {
      label[1] = executorName;
      hasInstance = true;
    } else if (label[0] === JOB_LABEL) {
      label[1] = job;
      hasJob = true;
    }
  }
  if (!hasInstance) sample.labels.push([INSTANCE_LABEL, executorName]);
  if (!hasJob) sample.labels.push([JOB_LABEL, job]);
}

// ---- grouping a dump by family ------------------------------------------------------------------------------

/** The family a sample belongs to among `types`: its own name, or the histogram/summary it is a part of. */
function familyOf(name: string, typeOf: (family: string) => MetricType | undefined): string | undefined {
  if (typeOf(name) !== undefined) return name;
  for (const [suffix, allowed] of [
    ['_bucket', ['histogram']],
    ['_sum', ['histogram', 'summary']],
    ['_count', ['histogram', 'summary']],
  ] as const) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = typeOf(base);
    if (type !== undefined && (allowed as readonly string[]).includes(type)) return base;
  }
  return undefined;
}

function mergeInto(families: Map<string, Family>, parsed: ParsedDump): void {
  const declared = new Set<string>();
  const conflicting = new Set<string>();

  const declare = (name: string): void => {
    if (declared.has(name)) return;
    declared.add(name);
    const type = parsed.types.get(name);
    const help = parsed.help.get(name);
    const existing = families.get(name);
    if (!existing) {
      families.set(name, { type: type ?? 'untyped', help, lines: [], seen: new Set() });
      return;
    }
    if (type !== undefined && type !== existing.type) {
      conflicting.add(name);
      return;
    }
    if (existing.help === undefined) existing.help = help;
  };

  for (const item of parsed.items) {
    if (item.kind === 'declaration') {
      declare(item.name);
      continue;
    }
    const sample = item.sample;
    let familyName = familyOf(sample.name, (n) => parsed.types.get(n));
    if (familyName !== undefined) {
      declare(familyName);
      if (conflicting.has(familyName)) continue;
    } else {
      familyName = familyOf(sample.name, (n) => families.get(n)?.type);
      if (familyName === undefined) {
        familyName = sample.name;
        families.set(familyName, { type: 'untyped', help: undefined, lines: [], seen: new Set() });
      }
    }
    const family = families.get(familyName)!;
    const key = sampleKey(sample);
    if (family.seen.has(key)) continue;
    family.seen.add(key);
    family.lines.push(formatSample(sample));
  }
}

function sampleKey(sample: Sample): string {
  const labels = sample.labels
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .sort()
    .join(',');
  return `${sample.name}{${labels}}`;
}

function serialize(families: Map<string, Family>): string {
  const out: string[] = [];
  for (const [name, family] of families) {
    if (family.lines.length === 0) continue;
    if (family.help !== undefined) {
      out.push(family.help === '' ? `# HELP ${name}` : `# HELP ${name} ${escapeHelp(family.help)}`);
    }
    out.push(`# TYPE ${name} ${family.type}`);
    for (const line of family.lines) out.push(line);
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

function formatSample(sample: Sample): string {
  let line = sample.name;
  if (sample.labels.length > 0) {
    line += '{' + sample.labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',') + '}';
  }
  line += ' ' + sample.value;
  if (sample.timestamp !== undefined) line += ' ' + sample.timestamp;
  return line;
}

function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c));
}

function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

// ---- parsing ---------------------------------------------------------------------------------------------------

const FINITE_VALUE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL_VALUES: ReadonlyMap<string, string> = new Map([
  ['+inf', '+Inf'],
  ['inf', '+Inf'],
  ['+infinity', '+Inf'],
  ['infinity', '+Inf'],
  ['-inf', '-Inf'],
  ['-infinity', '-Inf'],
  ['nan', 'NaN'],
]);
const TIMESTAMP = /^[+-]?\d+$/;

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
function isNameStart(c: number, allowColon: boolean): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || (allowColon && c === 0x3a);
}
function isNameChar(c: number, allowColon: boolean): boolean {
  return isNameStart(c, allowColon) || (c >= 0x30 && c <= 0x39);
}

/** Shortens hostile input before it goes into an error message. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? text.slice(0, 40) + '…' : text);
}

class LineParser {
  pos = 0;
  constructor(
    readonly text: string,
    readonly lineNumber: number,
  ) {}

  fail(what: string): never {
    throw new Error(`invalid metrics exposition: line ${this.lineNumber}: ${what}`);
  }
  atEnd(): boolean {
    return this.pos >= this.text.length;
  }
  peek(): number {
    return this.text.charCodeAt(this.pos);
  }
  skipBlanks(): boolean {
    const start = this.pos;
    while (!this.atEnd() && isBlank(this.peek())) this.pos++;
    return this.pos > start;
  }
  /** Reads a name at pos; returns '' when there is none. */
  name(allowColon: boolean): string {
    const start = this.pos;
    if (this.atEnd() || !isNameStart(this.peek(), allowColon)) return '';
    this.pos++;
    while (!this.atEnd() && isNameChar(this.peek(), allowColon)) this.pos++;
    return this.text.slice(start, this.pos);
  }
  /** Reads up to the next blank or the end of the line. */
  token(): string {
    const start = this.pos;
    while (!this.atEnd() && !isBlank(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }
  /** The word at pos that should have been a name, for error messages. */
  badToken(): string {
    const start = this.pos;
    let end = start;
    while (end < this.text.length && end - start < 41) {
      const c = this.text.charCodeAt(end);
      if (isBlank(c) || c === 0x7b || c === 0x7d || c === 0x3d || c === 0x2c || c === 0x22) break; // { } = , "
      end++;
    }
    return quote(this.text.slice(start, Math.max(end, Math.min(start + 1, this.text.length))));
  }
}

function parseExposition(dump: string, maxBytes: number): ParsedDump {
  // Cheap bound first (a UTF-16 unit is at least one UTF-8 byte), then the exact one.
  if (dump.length > maxBytes || Buffer.byteLength(dump, 'utf8') > maxBytes) {
    throw new Error(`invalid metrics exposition: larger than ${maxBytes} bytes`);
  }
  const parsed: ParsedDump = { items: [], help: new Map(), types: new Map() };
  const declaredNames = new Set<string>();
  let lineStart = 0;
  let lineNumber = 0;
  while (lineStart < dump.length) {
    let lineEnd = dump.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = dump.length;
    lineNumber++;
    let text = dump.slice(lineStart, lineEnd);
    lineStart = lineEnd + 1;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    const p = new LineParser(text, lineNumber);
    p.skipBlanks();
    if (p.atEnd()) continue;
    if (p.peek() === 0x23 /* # */) {
      p.pos++;
      parseComment(p, parsed, declaredNames);
    } else {
      parsed.items.push({ kind: 'sample', sample: parseSample(p) });
    }
  }
  return parsed;
}

function parseComment(p: LineParser, parsed: ParsedDump, declaredNames: Set<string>): void {
  p.skipBlanks();
  const keyword = p.token();
  if (keyword !== 'HELP' && keyword !== 'TYPE') return; // an ordinary comment
  p.skipBlanks();
  const name = p.name(true);
  if (name === '') p.fail(`invalid metric name ${p.badToken()} in ${keyword} line`);
  if (!p.atEnd() && !p.skipBlanks()) p.fail(`invalid metric name character after ${quote(name)} in ${keyword} line`);
  if (keyword === 'HELP') {
    if (parsed.help.has(name)) p.fail(`second HELP line for metric family ${quote(name)}`);
    parsed.help.set(name, unescapeHelp(p));
  } else {
    if (parsed.types.has(name)) p.fail(`second TYPE line for metric family ${quote(name)}`);
    const type = p.token().toLowerCase();
    if (!METRIC_TYPES.has(type)) p.fail(`unknown metric type ${quote(type)} for ${quote(name)}`);
    p.skipBlanks();
    if (!p.atEnd()) p.fail(`unexpected text after TYPE ${quote(name)} ${type}`);
    parsed.types.set(name, type as MetricType);
  }
  if (!declaredNames.has(name)) {
    declaredNames.add(name);
    parsed.items.push({ kind: 'declaration', name });
  }
}

function unescapeHelp(p: LineParser): string {
  let out = '';
  let runStart = p.pos;
  while (!p.atEnd()) {
    if (p.peek() !== 0x5c /* \ */) {
      p.pos++;
      continue;
    }
    out += p.text.slice(runStart, p.pos);
    const next = p.text[p.pos + 1];
    if (next === '\\') out += '\\';
    else if (next === 'n') out += '\n';
    else p.fail(`invalid escape sequence ${quote('\\' + (next ?? ''))} in HELP text`);
    p.pos += 2;
    runStart = p.pos;
  }
  return out + p.text.slice(runStart, p.pos);
}

function parseSample(p: LineParser): Sample {
  const name = p.name(true);
  if (name === '') p.fail(`invalid metric name ${p.badToken()}`);
  const hadBlank = p.skipBlanks();
  const labels: Array<[string, string]> = [];
  if (!p.atEnd() && p.peek() === 0x7b /* { */) {
    p.pos++;
    parseLabels(p, labels, name);
    p.skipBlanks();
  } else if (!p.atEnd() && !hadBlank) {
    p.fail(`invalid character ${quote(p.text[p.pos]!)} in metric name ${quote(name)}`);
  }
  if (p.atEnd()) p.fail(`missing value for ${quote(name)}`);
  const rawValue = p.token();
  const value = FINITE_VALUE.test(rawValue) ? rawValue : SPECIAL_VALUES.get(rawValue.toLowerCase());
  if (value === undefined) p.fail(`invalid value ${quote(rawValue)} for ${quote(name)}`);
  p.skipBlanks();
  let timestamp: string | undefined;
  if (!p.atEnd()) {
    timestamp = p.token();
    if (!TIMESTAMP.test(timestamp)) p.fail(`invalid timestamp ${quote(timestamp)} for ${quote(name)}`);
    p.skipBlanks();
    if (!p.atEnd()) p.fail(`unexpected text ${p.badToken()} after the timestamp of ${quote(name)}`);
  }
  return { name, labels, value, timestamp };
}

/** Parses `name="value",...}` after the opening brace. */
function parseLabels(p: LineParser, labels: Array<[string, string]>, metric: string): void {
  const unterminated = (): never => p.fail(`unterminated label set for ${quote(metric)}`);
  for (;;) {
    p.skipBlanks();
    if (p.atEnd()) unterminated();
    if (p.peek() === 0x7d /* } */) {
      p.pos++;
      return;
    }
    const labelName = p.name(false);
    if (labelName === '') p.fail(`invalid label name ${p.badToken()} for ${quote(metric)}`);
    if (labelName === '__name__') p.fail(`label name "__name__" is reserved (metric ${quote(metric)})`);
    if (labels.some(([n]) => n === labelName)) p.fail(`duplicate label ${quote(labelName)} for ${quote(metric)}`);
    p.skipBlanks();
    if (p.atEnd()) unterminated();
    if (p.peek() !== 0x3d /* = */) p.fail(`expected '=' after label name ${quote(labelName)}`);
    p.pos++;
    p.skipBlanks();
    if (p.atEnd()) unterminated();
    if (p.peek() !== 0x22 /* " */) p.fail(`expected '"' to start the value of label ${quote(labelName)}`);
    p.pos++;
    labels.push([labelName, parseLabelValue(p, labelName, metric)]);
    p.skipBlanks();
    if (p.atEnd()) unterminated();
    const c = p.peek();
    if (c === 0x2c /* , */) p.pos++;
    else if (c !== 0x7d /* } */) p.fail(`expected ',' or '}' after the value of label ${quote(labelName)}`);
  }
}

/** Reads a label value after its opening quote, through the closing quote. */
function parseLabelValue(p: LineParser, labelName: string, metric: string): string {
  let out = '';
  let runStart = p.pos;
  while (!p.atEnd()) {
    const c = p.peek();
    if (c === 0x22 /* " */) {
      out += p.text.slice(runStart, p.pos);
      p.pos++;
      return out;
    }
    if (c !== 0x5c /* \ */) {
      p.pos++;
      continue;
    }
    out += p.text.slice(runStart, p.pos);
    const next = p.text[p.pos + 1];
    if (next === '\\' || next === '"') out += next;
    else if (next === 'n') out += '\n';
    else p.fail(`invalid escape sequence ${quote('\\' + (next ?? ''))} in the value of label ${quote(labelName)}`);
    p.pos += 2;
    runStart = p.pos;
  }
  return p.fail(`unterminated value of label ${quote(labelName)} in the label set of ${quote(metric)}`);
}
