import { describe, it, expect } from 'vitest';
import { labelExecutorMetrics, mergeExpositions, MAX_METRICS_DUMP_BYTES } from './executor-metrics.js';

const JOB = 'sg_job="sourcegraph-executors"';

const histogramDump = (bucketCount: number) =>
  [
    '# HELP src_executor_run_seconds Time spent running a job.',
    '# TYPE src_executor_run_seconds histogram',
    `src_executor_run_seconds_bucket{le="1"} ${bucketCount}`,
    'src_executor_run_seconds_bucket{le="+Inf"} 5',
    'src_executor_run_seconds_sum 12.5',
    'src_executor_run_seconds_count 5',
    '# HELP src_executor_jobs_total Jobs handled.',
    '# TYPE src_executor_jobs_total counter',
    'src_executor_jobs_total{queue="batches"} 7',
    '',
  ].join('\n');

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
    expect(labelExecutorMetrics(dump, 'exec-1')).toBe(
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
    const out = labelExecutorMetrics(dump, 'host "a"\\b\nc');
    expect(out).toBe(
      '# TYPE m untyped\n' +
        'm{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb",sg_instance="host \\"a\\"\\\\b\\nc",' +
        `${JOB}} 1\n`,
    );
    // The normalized text parses again and labelling is stable on the labelled result.
    expect(mergeExpositions([out])).toBe(out);
  });

  it('keeps an existing non-empty sg_instance and fills an empty one', () => {
    const dump = 'a{sg_instance="docker-registry"} 1\nb{sg_instance=""} 2\nc{sg_job="other"} 3\n';
    const out = labelExecutorMetrics(dump, 'exec-1');
    expect(out).toContain(`a{sg_instance="docker-registry",${JOB}} 1`);
    expect(out).not.toContain('a{sg_instance="docker-registry",sg_instance');
    expect(out).toContain(`b{sg_instance="exec-1",${JOB}} 2`);
    // sg_job is set, not duplicated.
    expect(out).toContain(`c{${JOB},sg_instance="exec-1"} 3`);
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
    const out = labelExecutorMetrics(dump, 'e');
    expect(out).not.toMatch(/go_|process_|promhttp_/);
    expect(out).toBe(`# TYPE gopher_total counter\ngopher_total{sg_instance="e",${JOB}} 1\n`);
  });

  it('accepts every value spelling and canonicalizes infinities and NaN', () => {
    const dump = ['a 1', 'b -2.5e3', 'c +Inf', 'd -Inf', 'e NaN', 'f .5', 'g 1.', 'h inf', 'i +1E+10'].join('\n');
    const values = labelExecutorMetrics(dump, 'x')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(' ')[1]);
    expect(values).toEqual(['1', '-2.5e3', '+Inf', '-Inf', 'NaN', '.5', '1.', '+Inf', '+1E+10']);
  });

  it('returns an empty string for an empty dump or one with only comments and filtered families', () => {
    expect(labelExecutorMetrics('', 'x')).toBe('');
    expect(labelExecutorMetrics('\n\n# just a comment\n', 'x')).toBe('');
    expect(labelExecutorMetrics('# TYPE go_threads gauge\ngo_threads 8\n', 'x')).toBe('');
  });

  it('groups histogram samples under their family even when TYPE comes after them', () => {
    const dump = ['h_bucket{le="+Inf"} 1', 'other 2', 'h_sum 3', 'h_count 1', '# TYPE h histogram'].join('\n');
    expect(labelExecutorMetrics(dump, 'x')).toBe(
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
        expect(() => labelExecutorMetrics(dump, 'x')).toThrow(message);
      });
    }
  });

  it('throws on input above 4 MiB but accepts input at the limit', () => {
    const line = 'm{a="' + 'x'.repeat(1000) + '"} 1\n';
    const big = line.repeat(Math.ceil((5 * 1024 * 1024) / line.length));
    expect(() => labelExecutorMetrics(big, 'x')).toThrow(/larger than 4194304 bytes/);
    // Multi-byte characters count as bytes, not UTF-16 units.
    const wide = 'm{a="' + 'é'.repeat(MAX_METRICS_DUMP_BYTES / 2) + '"} 1\n';
    expect(wide.length).toBeLessThan(MAX_METRICS_DUMP_BYTES);
    expect(() => labelExecutorMetrics(wide, 'x')).toThrow(/larger than/);
    const atLimit = '# ' + 'x'.repeat(MAX_METRICS_DUMP_BYTES - 2);
    expect(labelExecutorMetrics(atLimit, 'x')).toBe('');
  });

  it('finishes on pathological input without backtracking', () => {
    expect(() => labelExecutorMetrics('a{' + 'b="'.repeat(100000), 'x')).toThrow(/line 1: expected ',' or '}'/);
    expect(() => labelExecutorMetrics('a{b="' + '\\\\'.repeat(500000), 'x')).toThrow(/unterminated value/);
    expect(() => labelExecutorMetrics('m ' + '1'.repeat(1_000_000) + 'x', 'x')).toThrow(/invalid value/);
    expect(() => labelExecutorMetrics('a{b="c",'.repeat(100000), 'x')).toThrow(/line 1: expected '=' after label name "a"/);
  });
});

describe('mergeExpositions', () => {
  it('deduplicates HELP/TYPE across executors and groups histogram samples under their family', () => {
    const one = labelExecutorMetrics(histogramDump(2), 'exec-1');
    const two = labelExecutorMetrics(histogramDump(4), 'exec-2');
    const merged = mergeExpositions([one, two]);
    expect(merged).toBe(
      [
        '# HELP src_executor_run_seconds Time spent running a job.',
        '# TYPE src_executor_run_seconds histogram',
        `src_executor_run_seconds_bucket{le="1",sg_instance="exec-1",${JOB}} 2`,
        `src_executor_run_seconds_bucket{le="+Inf",sg_instance="exec-1",${JOB}} 5`,
        `src_executor_run_seconds_sum{sg_instance="exec-1",${JOB}} 12.5`,
        `src_executor_run_seconds_count{sg_instance="exec-1",${JOB}} 5`,
        `src_executor_run_seconds_bucket{le="1",sg_instance="exec-2",${JOB}} 4`,
        `src_executor_run_seconds_bucket{le="+Inf",sg_instance="exec-2",${JOB}} 5`,
        `src_executor_run_seconds_sum{sg_instance="exec-2",${JOB}} 12.5`,
        `src_executor_run_seconds_count{sg_instance="exec-2",${JOB}} 5`,
        '# HELP src_executor_jobs_total Jobs handled.',
        '# TYPE src_executor_jobs_total counter',
        `src_executor_jobs_total{queue="batches",sg_instance="exec-1",${JOB}} 7`,
        `src_executor_jobs_total{queue="batches",sg_instance="exec-2",${JOB}} 7`,
        '',
      ].join('\n'),
    );
    expect(merged.match(/^# TYPE /gm)).toHaveLength(2);
    expect(merged.match(/^# HELP /gm)).toHaveLength(2);
  });

  it('groups summary _sum/_count with their family and keeps families in first-seen order', () => {
    const one = '# TYPE late gauge\nlate 1\n';
    const two = '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count 3\n# TYPE late gauge\nlate{x="2"} 2\n';
    const three = 's{quantile="0.5",i="3"} 4\ns_count{i="3"} 5\n';
    expect(mergeExpositions([one, two, three])).toBe(
      [
        '# TYPE late gauge',
        'late 1',
        'late{x="2"} 2',
        '# TYPE s summary',
        's{quantile="0.5"} 1',
        's_sum 2',
        's_count 3',
        // Untyped samples of a later dump join the family already declared by an earlier one.
        's{quantile="0.5",i="3"} 4',
        's_count{i="3"} 5',
        '',
      ].join('\n'),
    );
  });

  it('keeps the first TYPE and drops conflicting samples of later dumps without throwing', () => {
    const one = '# HELP m First.\n# TYPE m counter\nm{i="1"} 1\n';
    const two = '# HELP m Second.\n# TYPE m gauge\nm{i="2"} 2\n# TYPE ok gauge\nok{i="2"} 1\n';
    const three = '# TYPE m counter\nm{i="3"} 3\n';
    const merged = mergeExpositions([one, two, three]);
    expect(merged).toBe(
      [
        '# HELP m First.',
        '# TYPE m counter',
        'm{i="1"} 1',
        'm{i="3"} 3',
        '# TYPE ok gauge',
        'ok{i="2"} 1',
        '',
      ].join('\n'),
    );
  });

  it('groups samples without TYPE by their own name as untyped', () => {
    expect(mergeExpositions(['x{i="1"} 1\ny 2\n', 'x{i="2"} 3\n'])).toBe(
      '# TYPE x untyped\nx{i="1"} 1\nx{i="2"} 3\n# TYPE y untyped\ny 2\n',
    );
  });

  it('keeps the first of two identical samples, skips a malformed dump, and handles no input', () => {
    expect(mergeExpositions(['m{a="1",b="2"} 1\n', 'm{b="2",a="1"} 9\n', 'broken{ 1\n', 'n 1\n'])).toBe(
      '# TYPE m untyped\nm{a="1",b="2"} 1\n# TYPE n untyped\nn 1\n',
    );
    expect(mergeExpositions([])).toBe('');
    expect(mergeExpositions(['', ''])).toBe('');
  });
});
