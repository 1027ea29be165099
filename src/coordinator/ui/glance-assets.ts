// The stylesheet and script of what the pages show at a glance: the charts, the job timeline and
// overview, times in the viewer's time zone. Served after assets.ts's, in the same two files.

export const GLANCE_STYLESHEET = `
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 26rem), 1fr)); gap: .8rem; margin-bottom: 1rem; }
figure.chart { margin: 0 0 1rem; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; min-width: 0; }
.charts figure.chart { margin: 0; }
figure.chart figcaption { font-size: .85rem; color: var(--muted); margin-bottom: .3rem; }
svg.chart, svg.timeline { display: block; width: 100%; height: auto; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis, svg .duration { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg .label { font: 11px ui-monospace, SFMono-Regular, Menlo, monospace; fill: var(--fg); }
svg.chart polyline { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
.s-queued { stroke: var(--accent); } circle.s-queued, .swatch.s-queued { fill: var(--accent); background: var(--accent); }
.s-processing { stroke: #d97706; } circle.s-processing, .swatch.s-processing { fill: #d97706; background: #d97706; }
.s-active { stroke: var(--ok); } circle.s-active, .swatch.s-active { fill: var(--ok); background: var(--ok); }
.b-completed { fill: var(--ok); } .swatch.b-completed { background: var(--ok); }
.b-errored { fill: #d97706; } .swatch.b-errored { background: #d97706; }
.b-failed { fill: var(--bad); } .swatch.b-failed { background: var(--bad); }
rect.hover { fill: transparent; } rect.hover:hover { fill: rgba(31, 95, 191, .08); }
.legend { display: flex; flex-wrap: wrap; gap: .2rem .9rem; font-size: .8rem; color: var(--muted); margin-top: .2rem; }
.swatch { display: inline-block; width: .75rem; height: .75rem; border-radius: 2px; margin-right: .3rem; vertical-align: -1px; }
.range-links { font-size: .85rem; font-weight: 400; margin-left: .6rem; }
.range-links a { margin-right: .6rem; }
.range-links a[aria-current] { font-weight: 600; color: var(--fg); text-decoration: none; }
td.message { white-space: pre-wrap; word-break: break-word; min-width: 16rem; max-width: 42rem; }
td.running-jobs { white-space: normal; min-width: 7rem; }
.failure-message { white-space: pre-wrap; word-break: break-word; font: .9rem/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
dl.times { display: flex; flex-wrap: wrap; gap: .3rem 1.4rem; margin: .6rem 0 .4rem; }
dl.times div { display: flex; gap: .4rem; }
dl.times dt { color: var(--muted); }
dl.times dd { margin: 0; }
.timeline-card { padding: .6rem .8rem; }
svg.timeline .t-setup { fill: #8aa1c4; }
svg.timeline .t-step { fill: var(--accent); }
svg.timeline .t-teardown, svg.timeline .t-other { fill: #9aa3b2; }
svg.timeline .t-failed { fill: var(--bad); }
svg.timeline .t-running { opacity: .55; }
`;

/**
 * Times: every `<time datetime>` shows in the viewer's time zone (`absolute`: the date and time and how
 * long ago; `relative`: how long ago, the local time as its tooltip), refreshed every 10 s. The job
 * overview: fetched again after each live event (debounced) and every 5 s while the job runs, so its
 * timeline grows and a job that ends while watched shows its finished time and failure message.
 */
export const GLANCE_SCRIPT = `
(function () {
  function ago(ms) {
    var s = Math.round((Date.now() - ms) / 1000);
    if (s < 5) return 'just now';
    if (s < 60) return s + ' s ago';
    var m = Math.round(s / 60);
    if (m < 60) return m + ' min ago';
    var h = Math.round(m / 60);
    if (h < 48) return h + ' h ago';
    return Math.round(h / 24) + ' d ago';
  }
  var zone = '';
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { zone = ''; }
  function localize(root) {
    var list = root.querySelectorAll('time[datetime]');
    for (var i = 0; i < list.length; i++) {
      var t = list[i];
      var ms = Date.parse(t.getAttribute('datetime'));
      if (isNaN(ms)) continue;
      var local = new Date(ms).toLocaleString();
      t.textContent = t.getAttribute('data-format') === 'absolute' ? local + ' (' + ago(ms) + ')' : ago(ms);
      t.title = local + (zone ? ' (' + zone + ')' : '');
    }
  }
  localize(document);
  setInterval(function () { localize(document); }, 10000);

  if (!document.getElementById('job-overview')) return;
  var timer = null;
  function refresh() {
    timer = null;
    var current = document.getElementById('job-overview');
    if (!current) return;
    fetch(current.getAttribute('data-overview'), { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (res) { return res.ok ? res.text() : null; })
      .then(function (text) {
        if (text === null) return;
        // The coordinator's own markup, every value in it escaped; the CSP runs no script in it.
        var box = document.createElement('div');
        box.innerHTML = text;
        var fresh = box.firstElementChild;
        var old = document.getElementById('job-overview');
        if (!fresh || fresh.id !== 'job-overview' || !old) return;
        old.replaceWith(fresh);
        localize(fresh);
      })
      .catch(function () {});
  }
  function soon() { if (!timer) timer = setTimeout(refresh, 300); }
  document.addEventListener('executors:job-event', soon);
  setInterval(function () {
    var current = document.getElementById('job-overview');
    if (current && current.getAttribute('data-finished') === 'false') soon();
  }, 5000);
})();
`;
