import { describe, it, expect } from 'vitest';
import { FORWARDED_METRIC_PREFIXES, familySampleNames, labelExecutorMetrics, MAX_METRICS_DUMP_BYTES, type ForwardingRules } from './executor-metrics.js';
import { splitFamilies } from './forwarded-metrics.js';

/** Rules that keep every family (but go_*, process_*, promhttp_*): for the parser's own tests. */
const ANY: ForwardingRules = { allowedPrefixes: [''], reservedNames: new Set(), maxInputBytes: MAX_METRICS_DUMP_BYTES };
const label = (dump: string, executorName: string) => labelExecutorMetrics(dump, executorName, ANY);
/** A labelled text put back together from its families, as /metrics writes one executor's. */
const rejoin = (text: string) => Buffer.concat(splitFamilies(Buffer.from(text)).flatMap((f) => [f.header, f.samples])).toString();

const JOB = 'sg_job="sourcegraph-executors"';

describe('labelExecutorMetrics', () => {
  it('adds sg_instance and sg_job to every sample and normalizes the text', () => {
    const dump = [
      '# A free comment that is dropped',
      '#  HELP   jobs_total   Jobs run.',
      '# TYPE jobs_total counter',
      'jobs_total{queue="batches" , kind = "x",} 3 1700000000000',
      'up   1',
      '',
    ].join('\n');
    expect(label(dump, 'exec-1')).toBe(
      [
        '# HELP jobs_total Jobs run.',
        '# TYPE jobs_total counter',
        `jobs_total{queue="batches",kind="x",sg_instance="exec-1",${JOB}} 3 1700000000000`,
        '# TYPE up untyped',
        `up{sg_instance="exec-1",${JOB}} 1`,
        '',
      ].join('\n'),
    );
  });

  it('decodes and re-escapes label values and the executor name', () => {
    const dump = 'm{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb"} 1\n';
    const out = label(dump, 'host "a"\\b\nc');
    expect(out).toBe(
      '# TYPE m untyped\n' +
        'm{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb",sg_instance="host \\"a\\"\\\\b\\nc",' +
        `${JOB}} 1\n`,
    );
    // The normalized text splits into its families and joins back unchanged.
    expect(rejoin(out)).toBe(out);
  });

  it('always sets sg_instance to the executor, marking the registry mirror\'s samples by sg_job only', () => {
    const dump = 'a{sg_instance="docker-registry"} 1\nb{sg_instance=""} 2\nc{sg_job="other"} 3\nd{sg_instance="another-executor",x="1"} 4\n';
    const out = label(dump, 'exec-1');
    expect(out).toContain('a{sg_instance="exec-1",sg_job="sourcegraph-executors-registry"} 1');
    expect(out).toContain(`b{sg_instance="exec-1",${JOB}} 2`);
    // sg_job is set, not duplicated, in its place.
    expect(out).toContain(`c{${JOB},sg_instance="exec-1"} 3`);
    expect(out).toContain(`d{sg_instance="exec-1",x="1",${JOB}} 4`);
    expect(out).not.toContain('another-executor');
  });

  it('keeps only the families an executor forwards in the original, and none the coordinator registers', () => {
    const rules: ForwardingRules = {
      allowedPrefixes: FORWARDED_METRIC_PREFIXES,
      reservedNames: new Set([...familySampleNames('src_executor_total'), ...familySampleNames('src_executor_own_histogram')]),
      maxInputBytes: MAX_METRICS_DUMP_BYTES,
    };
    const dump = [
      '# TYPE src_executor_total gauge',
      'src_executor_total{queue="batches"} 1000',
      '# TYPE src_executor_own_histogram histogram',
      'src_executor_own_histogram_bucket{le="+Inf"} 1',
      'src_executor_own_histogram_count 1',
      'src_executor_jobs_started_total 1',
      'src_apiworker_command_total{op="setup.git.fetch"} 2',
      'node_load1 0.5',
      'registry_http_requests_total 3',
      'up 1',
      'executors_coordinator_jobs{state="queued"} 9',
      '',
    ].join('\n');
    const names = labelExecutorMetrics(dump, 'e', rules)
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split('{')[0]);
    expect(names).toEqual(['src_executor_jobs_started_total', 'src_apiworker_command_total', 'node_load1', 'registry_http_requests_total']);
  });

  it('refuses a dump over the rules\' input size before parsing it', () => {
    expect(() => labelExecutorMetrics('m 1\n'.repeat(300), 'x', { ...ANY, maxInputBytes: 1000 })).toThrow(/larger than 1000 bytes/);
  });

  it('drops go_*, process_* and promhttp_* families', () => {
    const dump = [
      '# HELP go_goroutines Number of goroutines.',
      '# TYPE go_goroutines gauge',
      'go_goroutines 12',
      '# TYPE go_gc_duration_seconds summary',
      'go_gc_duration_seconds{quantile="0.5"} 0.001',
      'go_gc_duration_seconds_sum 0.1',
      'go_gc_duration_seconds_count 4',
      '# TYPE process_cpu_seconds_total counter',
      'process_cpu_seconds_total 1.5',
      '# TYPE promhttp_metric_handler_requests_total counter',
      'promhttp_metric_handler_requests_total{code="200"} 3',
      '# TYPE gopher_total counter',
      'gopher_total 1',
    ].join('\n');
    const out = label(dump, 'e');
    expect(out).not.toMatch(/go_|process_|promhttp_/);
    expect(out).toBe(`# TYPE gopher_total counter\ngopher_total{sg_instance="e",${JOB}} 1\n`);
  });

  it('accepts every value spelling and canonicalizes infinities and NaN', () => {
    const dump = ['a 1', 'b -2.5e3', 'c +Inf', 'd -Inf', 'e NaN', 'f .5', 'g 1.', 'h inf', 'i +1E+10'].join('\n');
    const values = label(dump, 'x')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(' ')[1]);
    expect(values).toEqual(['1', '-2.5e3', '+Inf', '-Inf', 'NaN', '.5', '1.', '+Inf', '+1E+10']);
  });

  it('returns an empty string for an empty dump or one with only comments and filtered families', () => {
    expect(label('', 'x')).toBe('');
    expect(label('\n\n# just a comment\n', 'x')).toBe('');
    expect(label('# TYPE go_threads gauge\ngo_threads 8\n', 'x')).toBe('');
  });

  it('groups histogram samples under their family even when TYPE comes after them', () => {
    const dump = ['h_bucket{le="+Inf"} 1', 'other 2', 'h_sum 3', 'h_count 1', '# TYPE h histogram'].join('\n');
    expect(label(dump, 'x')).toBe(
      [
        '# TYPE h histogram',
        `h_bucket{le="+Inf",sg_instance="x",${JOB}} 1`,
        `h_sum{sg_instance="x",${JOB}} 3`,
        `h_count{sg_instance="x",${JOB}} 1`,
        '# TYPE other untyped',
        `other{sg_instance="x",${JOB}} 2`,
        '',
      ].join('\n'),
    );
  });

  describe('throws with the line number on malformed input', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['bad metric name', 'ok 1\n9bad 1\n', /line 2: invalid metric name "9bad"/],
      ['bad character in metric name', 'a-b 1\n', /line 1: invalid character "-" in metric name "a"/],
      ['unterminated label set', 'ok 1\n\nm{a="b" 1\n', /line 3: expected ',' or '}'/],
      ['label set cut short', 'm{a="b",\n', /line 1: unterminated label set/],
      ['unterminated label value', 'm{a="b} 1\n', /line 1: unterminated value of label "a"/],
      ['bad label name', 'm{1a="b"} 1\n', /line 1: invalid label name "1a" for "m"/],
      ['missing =', 'm{a "b"} 1\n', /line 1: expected '=' after label name "a"/],
      ['empty label name', 'm{="b"} 1\n', /line 1: invalid label name "=" for "m"/],
      ['unquoted label value', 'm{a=b} 1\n', /line 1: expected '"' to start the value of label "a"/],
      ['duplicate label', 'm{a="1",a="2"} 1\n', /line 1: duplicate label "a"/],
      ['reserved label', 'm{__name__="x"} 1\n', /line 1: label name "__name__" is reserved/],
      ['missing value', 'ok 1\nm{a="b"}\n', /line 2: missing value for "m"/],
      ['missing value after name', 'm   \n', /line 1: missing value for "m"/],
      ['invalid value', 'm 12abc\n', /line 1: invalid value "12abc"/],
      ['invalid timestamp', 'm 1 soon\n', /line 1: invalid timestamp "soon"/],
      ['trailing text', 'm 1 2 3\n', /line 1: unexpected text "3"/],
      ['bad label escape', 'm{a="x\\t"} 1\n', /line 1: invalid escape sequence "\\\\t" in the value of label "a"/],
      ['bad HELP escape', '# HELP m bad \\x escape\n', /line 1: invalid escape sequence "\\\\x" in HELP text/],
      ['bad TYPE', '# TYPE m countr\n', /line 1: unknown metric type "countr"/],
      ['bad name in TYPE', '# TYPE 1m counter\n', /line 1: invalid metric name "1m" in TYPE line/],
      ['second TYPE', '# TYPE m counter\n# TYPE m gauge\n', /line 2: second TYPE line for metric family "m"/],
    ];
    for (const [title, dump, message] of cases) {
      it(title, () => {
        expect(() => label(dump, 'x')).toThrow(message);
      });
    }
  });

  it('throws on input above 4 MiB but accepts input at the limit', () => {
    const line = 'm{a="' + 'x'.repeat(1000) + '"} 1\n';
    const big = line.repeat(Math.ceil((5 * 1024 * 1024) / line.length));
    expect(() => label(big, 'x')).toThrow(/larger than 4194304 bytes/);
    // Multi-byte characters count as bytes, not UTF-16 units.
    const wide = 'm{a="' + 'é'.repeat(MAX_METRICS_DUMP_BYTES / 2) + '"} 1\n';
    expect(wide.length).toBeLessThan(MAX_METRICS_DUMP_BYTES);
    expect(() => label(wide, 'x')).toThrow(/larger than/);
    const atLimit = '# ' + 'x'.repeat(MAX_METRICS_DUMP_BYTES - 2);
    expect(label(atLimit, 'x')).toBe('');
  });

  it('finishes on pathological input without backtracking', () => {
    expect(() => label('a{' + 'b="'.repeat(100000), 'x')).toThrow(/line 1: expected ',' or '}'/);
    expect(() => label('a{b="' + '\\\\'.repeat(500000), 'x')).toThrow(/unterminated value/);
    expect(() => label('m ' + '1'.repeat(1_000_000) + 'x', 'x')).toThrow(/invalid value/);
    expect(() => label('a{b="c",'.repeat(100000), 'x')).toThrow(/line 1: expected '=' after label name "a"/);
  });
});
