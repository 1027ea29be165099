// A job's timeline: one bar per log entry (setup, each step, teardown) on a common time axis, with its
// duration, drawn on the server as SVG. It needs only each entry's key, start, duration and exit code —
// never the output — so it is the same however the page loads outputs.
import { html, raw, type Html } from './html.js';

/** What the timeline reads of a log entry. */
export interface TimelineEntry {
  entryId: number;
  key: string;
  /** RFC 3339. */
  startTime: string;
  /** Null or absent while the command runs. */
  exitCode?: number | null;
  durationMs?: number | null;
}

const WIDTH = 640;
const LABEL = 190;
const DURATION = 64;
const ROW = 20;
const AXIS = 18;

/** `850 ms`, `12.3 s`, `4 min 05 s`, `1 h 02 min`. */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function phaseOf(key: string): 'setup' | 'step' | 'teardown' | 'other' {
  if (key.startsWith('setup.')) return 'setup';
  if (key.startsWith('step.')) return 'step';
  if (key.startsWith('teardown.')) return 'teardown';
  return 'other';
}

/**
 * The timeline of `entries` as an SVG. `startMs` is where the axis begins (the job's start, or its first
 * entry's); an entry still running (no exit code) reaches `nowMs`. Empty when there are no entries.
 */
export function jobTimeline(entries: readonly TimelineEntry[], options: { nowMs: number; startMs?: number }): Html {
  if (entries.length === 0) return html``;
  const starts = entries.map((e) => Date.parse(e.startTime));
  const origin = Math.min(options.startMs ?? Infinity, ...starts);
  const ends = entries.map((e, i) => (typeof e.durationMs === 'number' ? starts[i]! + e.durationMs : e.exitCode == null ? options.nowMs : starts[i]!));
  const span = Math.max(1000, Math.max(...ends) - origin);
  const plot = WIDTH - LABEL - DURATION;
  const x = (ms: number) => LABEL + ((ms - origin) / span) * plot;
  const height = AXIS + entries.length * ROW + 4;
  const parts: string[] = [];
  for (const fraction of [0, 0.5, 1]) {
    const at = LABEL + fraction * plot;
    parts.push(`<line class="grid" x1="${at.toFixed(1)}" x2="${at.toFixed(1)}" y1="${AXIS - 4}" y2="${height}"/>`);
    parts.push(`<text class="axis" x="${at.toFixed(1)}" y="11" text-anchor="${fraction === 0 ? 'start' : fraction === 1 ? 'end' : 'middle'}">${fraction === 0 ? '0 s' : formatDurationMs(span * fraction)}</text>`);
  }
  entries.forEach((e, i) => {
    const top = AXIS + i * ROW;
    const running = e.exitCode == null;
    const failed = !running && e.exitCode !== 0;
    const x0 = x(starts[i]!);
    const width = Math.max(2, x(ends[i]!) - x0);
    const duration = typeof e.durationMs === 'number' ? formatDurationMs(e.durationMs) : running ? `${formatDurationMs(options.nowMs - starts[i]!)}…` : '';
    const label = e.key.length > 30 ? `${e.key.slice(0, 29)}…` : e.key;
    const status = running ? 'running' : `exit code ${e.exitCode}`;
    const classes = `bar t-${phaseOf(e.key)}${failed ? ' t-failed' : ''}${running ? ' t-running' : ''}`;
    parts.push(
      html`<g class="timeline-row" data-key="${e.key}" data-entry="${e.entryId}"><title>${e.key}: started ${formatDurationMs(starts[i]! - origin)} in, ${duration || 'no duration'}, ${status}</title>
        <text class="label" x="0" y="${top + 13}">${label}</text>
        <rect class="${classes}" x="${x0.toFixed(1)}" y="${top + 3}" width="${width.toFixed(1)}" height="${ROW - 6}" rx="2"/>
        <text class="duration" x="${WIDTH}" y="${top + 13}" text-anchor="end">${duration}</text></g>`.value,
    );
  });
  return html`<svg class="timeline" id="job-timeline" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="Timeline of ${entries.length} log entries over ${formatDurationMs(span)}">${raw(parts.join(''))}</svg>`;
}
