// The server-side SVG charts and the job timeline: scales, gaps, stacking, escaping.
import { describe, expect, it } from 'vitest';
import { niceCeiling, timeChart } from './charts.js';
import { formatDurationMs, jobTimeline } from './job-timeline.js';

const base = { id: 'c', title: 'T', xLabels: [], slotLabel: (i: number) => `slot ${i}` };

describe('timeChart', () => {
  it('scales the y axis to an even, round ceiling', () => {
    expect([0, 1, 3, 5, 7, 9, 13, 55, 101].map(niceCeiling)).toEqual([2, 2, 4, 6, 8, 10, 20, 60, 200]);
  });

  it('draws a line per run of slots with data, leaving gaps where there is none', () => {
    const svg = timeChart({ ...base, kind: 'lines', series: [{ name: 'queued', className: 's-queued', values: [1, 2, null, 3, 4, null, 5] }] }).value;
    expect(svg.match(/<polyline class="s-queued"/g)).toHaveLength(2);
    // A lone point is a dot.
    expect(svg.match(/<circle class="s-queued"/g)).toHaveLength(1);
    expect(svg).toContain('<title>slot 2: no data</title>');
    expect(svg).toContain('<title>slot 3: 3 queued</title>');
  });

  it('stacks bars in series order, each as tall as its value', () => {
    const svg = timeChart({
      ...base,
      kind: 'bars',
      series: [
        { name: 'completed', className: 'b-completed', values: [4, 0] },
        { name: 'failed', className: 'b-failed', values: [4, 1] },
      ],
    }).value;
    const heights = [...svg.matchAll(/<rect class="(b-\w+)" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"/g)].map((m) => [m[1], Number(m[3])]);
    // Top 8: the two parts of the first bar are half the plot each; the lone failure an eighth.
    expect(heights).toEqual([
      ['b-completed', 71],
      ['b-failed', 71],
      ['b-failed', 17.75],
    ]);
  });

  it('escapes what it is given', () => {
    const svg = timeChart({ ...base, title: '<b>x</b>', kind: 'lines', series: [{ name: '<i>', className: 's', values: [1] }] }).value;
    expect(svg).not.toContain('<b>');
    expect(svg).not.toContain('<i>');
  });
});

describe('jobTimeline', () => {
  it('puts each entry on a common axis with its duration; a running one reaches now, a failed one is red', () => {
    const t0 = Date.parse('2026-12-02T10:00:00Z');
    const svg = jobTimeline(
      [
        { entryId: 1, key: 'setup.git.fetch', startTime: new Date(t0).toISOString(), exitCode: 0, durationMs: 1500 },
        { entryId: 2, key: 'step.docker.build', startTime: new Date(t0 + 2000).toISOString(), exitCode: 2, durationMs: 4000 },
        { entryId: 3, key: 'step.docker.test', startTime: new Date(t0 + 6000).toISOString(), exitCode: null, durationMs: null },
      ],
      { nowMs: t0 + 10_000 },
    ).value;
    expect(svg).toContain('>1.5 s</text>');
    expect(svg).toContain('>4.0 s</text>');
    expect(svg).toContain('>4.0 s…</text>');
    expect(svg).toMatch(/class="bar t-step t-failed"/);
    expect(svg).toMatch(/class="bar t-step t-running"/);
    // The axis spans the whole job: 10 s.
    expect(svg).toContain('>10.0 s</text>');
    expect(jobTimeline([], { nowMs: t0 }).value).toBe('');
  });

  it('formats durations for people', () => {
    expect([850, 12_340, 245_000, 3_725_000].map(formatDurationMs)).toEqual(['850 ms', '12.3 s', '4 min 05 s', '1 h 02 min']);
  });
});
