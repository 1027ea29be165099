// The web UI's stylesheet and script, served by the coordinator itself (no CDN: many installations have
// no internet). Plain CSS that works at phone width, and a small script for live job logs.

export const STYLESHEET = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --accent: #1f5fbf; --ok: #1a7f37; --bad: #c62828; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem 1rem; padding: .6rem 1rem; background: #fff; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; margin-right: auto; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem .9rem; }
header a { color: var(--fg); text-decoration: none; }
header a[aria-current="page"] { color: var(--accent); font-weight: 600; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .6rem; }
a { color: var(--accent); }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin-bottom: 1rem; }
.table-wrap { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 12rem; }
th { font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
tr:last-child td { border-bottom: 0; }
.muted { color: var(--muted); }
.dot { display: inline-block; width: .6rem; height: .6rem; border-radius: 50%; background: #b8bfcc; margin-right: .35rem; }
.dot.active { background: var(--ok); }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: 999px; font-size: .8rem; border: 1px solid var(--line); background: #fff; }
.state-completed { color: var(--ok); border-color: var(--ok); }
.state-failed, .state-errored { color: var(--bad); border-color: var(--bad); }
.state-canceled { color: var(--warn); border-color: var(--warn); }
.state-processing { color: var(--accent); border-color: var(--accent); }
form.inline { display: inline; }
form.sign-in { max-width: 24rem; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: .8rem; }
input[type=text], input[type=password], input[type=search], input[type=url], select, textarea { font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: #fff; max-width: 100%; }
button { font: inherit; padding: .35rem .8rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
label { display: block; margin: .4rem 0 .2rem; font-weight: 600; }
.pager { display: flex; gap: 1rem; margin: .8rem 0; }
.notice { border-left: 4px solid var(--warn); background: #fff8e6; padding: .7rem 1rem; border-radius: 4px; margin-bottom: 1rem; }
.error { border-left: 4px solid var(--bad); background: #fdecea; padding: .7rem 1rem; border-radius: 4px; margin-bottom: 1rem; }
.sizes { display: flex; flex-wrap: wrap; gap: .6rem; margin-bottom: 1rem; }
.sizes .card { margin: 0; padding: .6rem .9rem; min-width: 9rem; }
.sizes .n { font-size: 1.4rem; font-weight: 700; }
details.entry { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin-bottom: .6rem; }
details.entry > summary { cursor: pointer; padding: .5rem .7rem; display: flex; flex-wrap: wrap; gap: .3rem .8rem; align-items: baseline; }
details.entry code.command { display: block; padding: 0 .7rem .4rem; color: var(--muted); white-space: pre-wrap; word-break: break-all; }
pre.out { margin: 0; padding: .6rem .7rem; background: #0f1420; color: #e6e9ef; overflow-x: auto; font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; max-height: 32rem; border-radius: 0 0 8px 8px; }
.secret-value { font-family: ui-monospace, monospace; }
.code-view { display: grid; grid-template-columns: minmax(0, 1fr) minmax(14rem, 22rem); gap: 1rem; align-items: start; }
table.source td { padding: 0 .6rem; border: 0; font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre; }
table.source td.ln { color: var(--muted); text-align: right; user-select: none; }
a.occ { color: inherit; text-decoration: none; border-bottom: 1px dotted var(--line); }
a.occ:hover { color: var(--accent); border-bottom-color: var(--accent); }
a.occ.selected { background: #fff3b0; }
pre.doc { margin: 0; white-space: pre-wrap; font: 12.5px/1.45 ui-monospace, monospace; }
p.doc { margin: .3rem 0; white-space: pre-wrap; }
.hover hr { border: 0; border-top: 1px solid var(--line); }
ul.files { columns: 2 18rem; }
@media (max-width: 900px) { .code-view { grid-template-columns: 1fr; } }
@media (max-width: 640px) { main { padding: .6rem; } th, td { padding: .35rem .4rem; } h1 { font-size: 1.15rem; } }
`;

/**
 * Live job page: an EventSource on `…/events` delivers `entry` events (one log entry, its last lines)
 * and a `job` event (state); everything goes into the page with textContent, never as markup.
 */
export const SCRIPT = `
(function () {
  var root = document.querySelector('[data-job-events]');
  if (!root || !window.EventSource) return;
  var source = new EventSource(root.getAttribute('data-job-events'));
  var entries = document.getElementById('entries');
  function entryElement(e) {
    var el = document.getElementById('entry-' + e.entryId);
    if (el) return el;
    el = document.createElement('details');
    el.className = 'entry';
    el.id = 'entry-' + e.entryId;
    el.open = true;
    var summary = document.createElement('summary');
    ['key', 'exit', 'duration'].forEach(function (name) { var s = document.createElement('span'); s.setAttribute('data-field', name); summary.appendChild(s); });
    var command = document.createElement('code'); command.className = 'command';
    var out = document.createElement('pre'); out.className = 'out';
    el.appendChild(summary); el.appendChild(command); el.appendChild(out);
    entries.appendChild(el);
    var none = document.getElementById('no-entries');
    if (none) none.remove();
    return el;
  }
  // Other parts of the page (the overview and timeline) refresh themselves on these.
  function announce(type) { document.dispatchEvent(new CustomEvent('executors:job-event', { detail: { type: type } })); }
  source.addEventListener('entry', function (msg) {
    announce('entry');
    var e = JSON.parse(msg.data);
    var el = entryElement(e);
    el.querySelector('[data-field=key]').textContent = e.key;
    el.querySelector('[data-field=exit]').textContent = e.exitCode === null ? 'running' : 'exit code ' + e.exitCode;
    el.querySelector('[data-field=duration]').textContent = e.durationMs === null ? '' : (e.durationMs / 1000).toFixed(1) + ' s';
    el.querySelector('code.command').textContent = e.command.join(' ');
    var out = el.querySelector('pre.out');
    var stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.textContent = (e.truncatedLines > 0 ? '… ' + e.truncatedLines + ' earlier lines on the full log page\\n' : '') + e.tail;
    if (stick) out.scrollTop = out.scrollHeight;
  });
  source.addEventListener('job', function (msg) {
    announce('job');
    var job = JSON.parse(msg.data);
    var state = document.getElementById('job-state');
    state.textContent = job.state;
    state.className = 'badge state-' + job.state;
    if (job.finished) {
      var cancel = document.getElementById('cancel-form');
      if (cancel) cancel.remove();
      source.close();
    }
  });
})();
`;
