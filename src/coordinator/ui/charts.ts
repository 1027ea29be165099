// Charts drawn on the server as inline SVG (no script, no library): lines or stacked bars over time
// slots, with a y axis, relative time labels (they read the same in every time zone) and a tooltip per
// slot (`<title>`). Colours come from the stylesheet's classes, since the pages' CSP allows no inline style.
import { html, raw, type Html } from './html.js';

/** One series: its name (legend, tooltip), a CSS class for its colour, and one value per slot (null: no data). */
export interface ChartSeries {
  name: string;
  className: string;
  values: ReadonlyArray<number | null>;
}

export interface TimeChartOptions {
  /** Read by screen readers (`aria-label`) and shown as the chart's heading. */
  title: string;
  /** `lines`: each series a line (gaps where null); `bars`: the series stacked in one bar per slot. */
  kind: 'lines' | 'bars';
  series: readonly ChartSeries[];
  /** Labels under the x axis at slot indexes. */
  xLabels: ReadonlyArray<{ slot: number; text: string }>;
  /** The tooltip's first words for a slot, e.g. `12 min ago`. */
  slotLabel: (slot: number) => string;
  /** An id for tests and links. */
  id: string;
}

const WIDTH = 640;
const HEIGHT = 170;
const LEFT = 34;
const RIGHT = 8;
const TOP = 8;
const BOTTOM = 20;

/**
 * The smallest of 1, 2, 4, 6, 8 × 10^k that is at least `max`, and at least 2: even, so the middle grid
 * line is a whole number too.
 */
export function niceCeiling(max: number): number {
  const target = Math.max(2, max);
  const magnitude = 10 ** Math.floor(Math.log10(target));
  for (const step of [1, 2, 4, 6, 8, 10]) if (step * magnitude >= target && Number.isInteger((step * magnitude) / 2)) return step * magnitude;
  return 10 * magnitude;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** The chart as an `<svg>` in a `<figure>` with its legend. */
export function timeChart(options: TimeChartOptions): Html {
  const slots = Math.max(1, ...options.series.map((s) => s.values.length));
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slotWidth = plotWidth / slots;
  const totals = Array.from({ length: slots }, (_, i) => options.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const peak = options.kind === 'bars' ? Math.max(0, ...totals) : Math.max(0, ...options.series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const top = niceCeiling(peak);
  const y = (value: number) => TOP + plotHeight - (value / top) * plotHeight;
  const xCenter = (slot: number) => LEFT + (slot + 0.5) * slotWidth;
  const parts: string[] = [];

  // Grid lines and y labels at 0, half and the top.
  for (const value of [0, top / 2, top]) {
    parts.push(`<line class="grid" x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}"/>`);
    parts.push(`<text class="axis" x="${LEFT - 4}" y="${(y(value) + 3.5).toFixed(1)}" text-anchor="end">${fmt(value)}</text>`);
  }
  for (const label of options.xLabels) {
    const anchor = label.slot === 0 ? 'start' : label.slot >= slots - 1 ? 'end' : 'middle';
    const x = label.slot === 0 ? LEFT : label.slot >= slots - 1 ? WIDTH - RIGHT : xCenter(label.slot);
    parts.push(html`<text class="axis" x="${x.toFixed(1)}" y="${HEIGHT - 5}" text-anchor="${anchor}">${label.text}</text>`.value);
  }

  if (options.kind === 'bars') {
    const barWidth = Math.max(1, slotWidth * 0.8);
    for (let slot = 0; slot < slots; slot++) {
      let base = 0;
      for (const s of options.series) {
        const value = s.values[slot] ?? 0;
        if (value <= 0) continue;
        const y0 = y(base + value);
        const h = y(base) - y0;
        parts.push(`<rect class="${s.className}" x="${(LEFT + slot * slotWidth + (slotWidth - barWidth) / 2).toFixed(2)}" y="${y0.toFixed(2)}" width="${barWidth.toFixed(2)}" height="${Math.max(0.5, h).toFixed(2)}"/>`);
        base += value;
      }
    }
  } else {
    for (const s of options.series) {
      // One polyline per run of slots with data: a gap where the coordinator recorded nothing.
      let run: string[] = [];
      const flush = () => {
        if (run.length === 1) parts.push(`<circle class="${s.className}" cx="${run[0]!.split(',')[0]}" cy="${run[0]!.split(',')[1]}" r="2"/>`);
        else if (run.length > 1) parts.push(`<polyline class="${s.className}" points="${run.join(' ')}"/>`);
        run = [];
      };
      s.values.forEach((value, slot) => {
        if (value === null) flush();
        else run.push(`${xCenter(slot).toFixed(1)},${y(value).toFixed(1)}`);
      });
      flush();
    }
  }

  // A transparent band per slot carries its tooltip.
  for (let slot = 0; slot < slots; slot++) {
    const known = options.series.filter((s) => s.values[slot] !== null && s.values[slot] !== undefined);
    const what = known.length === 0 ? 'no data' : known.map((s) => `${fmt(s.values[slot]!)} ${s.name}`).join(', ');
    parts.push(html`<rect class="hover" x="${(LEFT + slot * slotWidth).toFixed(2)}" y="${TOP}" width="${slotWidth.toFixed(2)}" height="${plotHeight}"><title>${options.slotLabel(slot)}: ${what}</title></rect>`.value);
  }

  const legend = options.series.map((s) => html`<span class="legend-item"><span class="swatch ${s.className}"></span>${s.name}</span>`);
  return html`<figure class="chart" id="${options.id}">
    <figcaption>${options.title}</figcaption>
    <svg class="chart ${options.kind}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${options.title}">${raw(parts.join(''))}</svg>
    <div class="legend">${legend}</div>
  </figure>`;
}
