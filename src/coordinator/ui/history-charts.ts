// The charts of the Jobs and Executors pages, from the time series the coordinator keeps
// (HistoryStore): per queue, its size (queued, processing) and the jobs finished per minute (completed,
// errored, failed); the active executors. Over the last hour (minutes) or the last day (ten minutes).
import type { HistoryResolution, HistoryStore } from '../store/history-store.js';
import { timeChart } from './charts.js';
import { html, type Html } from './html.js';

/** `hour`: 60 one-minute slots; `day`: 144 ten-minute slots. */
export type ChartRange = 'hour' | 'day';

export function chartRangeOf(raw: string | null): ChartRange {
  return raw === 'day' ? 'day' : 'hour';
}

interface Slots {
  resolution: HistoryResolution;
  count: number;
  /** Start of each slot, ms since the epoch. */
  starts: number[];
  xLabels: Array<{ slot: number; text: string }>;
  slotLabel: (slot: number) => string;
  /** `per minute` / `per 10 minutes`. */
  per: string;
}

function slotsOf(range: ChartRange, nowMs: number): Slots {
  const resolution: HistoryResolution = range === 'day' ? 600 : 60;
  const count = range === 'day' ? 144 : 60;
  const stepMs = resolution * 1000;
  const last = Math.floor(nowMs / stepMs) * stepMs;
  const starts = Array.from({ length: count }, (_, i) => last - (count - 1 - i) * stepMs);
  const ago = (slot: number) => {
    const minutes = Math.round((nowMs - starts[slot]!) / 60_000);
    if (slot === count - 1) return range === 'day' ? 'the last 10 minutes' : 'this minute';
    return minutes < 120 ? `${minutes} min ago` : `${Math.round(minutes / 60)} h ago`;
  };
  const xLabels =
    range === 'day'
      ? [{ slot: 0, text: '24 h ago' }, { slot: 36, text: '18 h' }, { slot: 72, text: '12 h' }, { slot: 108, text: '6 h' }, { slot: count - 1, text: 'now' }]
      : [{ slot: 0, text: '60 min ago' }, { slot: 15, text: '45 min' }, { slot: 30, text: '30 min' }, { slot: 45, text: '15 min' }, { slot: count - 1, text: 'now' }];
  return { resolution, count, starts, xLabels, slotLabel: ago, per: range === 'day' ? 'per 10 minutes' : 'per minute' };
}

function byStart<P extends { bucketStart: Date }>(points: readonly P[]): Map<number, P> {
  return new Map(points.map((p) => [p.bucketStart.getTime(), p]));
}

/** The links that switch a page between the last hour and the last day. */
export function rangeLinks(range: ChartRange, href: (range: ChartRange) => string): Html {
  return html`<span class="range-links">${(['hour', 'day'] as const).map(
    (r) => html`<a href="${href(r)}" ${r === range ? html`aria-current="true"` : ''}>last ${r}</a>`,
  )}</span>`;
}

/** A queue's two charts and its numbers at a glance. */
export async function queueCharts(history: HistoryStore, queue: string, range: ChartRange): Promise<Html> {
  const sinceS = range === 'day' ? 86_400 : 3600;
  const { nowMs, points } = await history.queueSeries(queue, range === 'day' ? 600 : 60, sinceS + 600);
  const slots = slotsOf(range, nowMs);
  const at = byStart(points);
  const pick = (field: 'queued' | 'processing' | 'completed' | 'errored' | 'failed') => slots.starts.map((start) => at.get(start)?.[field] ?? null);
  const sum = (values: ReadonlyArray<number | null>) => values.reduce<number>((total, v) => total + (v ?? 0), 0);
  const finished = { completed: pick('completed'), errored: pick('errored'), failed: pick('failed') };
  const label = range === 'day' ? 'last day' : 'last hour';
  return html`<div class="charts" data-queue="${queue}">
    ${timeChart({
      id: `chart-size-${queue}`,
      title: `Queue size of ${queue}, ${label} (the most seen in each ${range === 'day' ? '10 minutes' : 'minute'})`,
      kind: 'lines',
      series: [
        { name: 'queued', className: 's-queued', values: pick('queued') },
        { name: 'processing', className: 's-processing', values: pick('processing') },
      ],
      xLabels: slots.xLabels,
      slotLabel: slots.slotLabel,
    })}
    ${timeChart({
      id: `chart-finished-${queue}`,
      title: `Jobs finished ${slots.per} in ${queue}, ${label}: ${sum(finished.completed)} completed, ${sum(finished.errored)} errored, ${sum(finished.failed)} failed`,
      kind: 'bars',
      series: [
        { name: 'completed', className: 'b-completed', values: finished.completed },
        { name: 'errored', className: 'b-errored', values: finished.errored },
        { name: 'failed', className: 'b-failed', values: finished.failed },
      ],
      xLabels: slots.xLabels,
      slotLabel: slots.slotLabel,
    })}
  </div>`;
}

/** The active executors over time. */
export async function executorChart(history: HistoryStore, range: ChartRange): Promise<Html> {
  const sinceS = range === 'day' ? 86_400 : 3600;
  const { nowMs, points } = await history.executorSeries(range === 'day' ? 600 : 60, sinceS + 600);
  const slots = slotsOf(range, nowMs);
  const at = byStart(points);
  return timeChart({
    id: 'chart-executors',
    title: `Active executors, ${range === 'day' ? 'last day' : 'last hour'} (the most seen at once in each ${range === 'day' ? '10 minutes' : 'minute'})`,
    kind: 'lines',
    series: [{ name: 'active executors', className: 's-active', values: slots.starts.map((start) => at.get(start)?.active ?? null) }],
    xLabels: slots.xLabels,
    slotLabel: slots.slotLabel,
  });
}
