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
.spec-editor { display: grid; grid-template-columns: auto minmax(0, 1fr); border: 1px solid var(--line); border-radius: 6px; background: #fff; overflow: hidden; font: 13px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
.spec-editor .gutter, .spec-editor .marks { overflow: hidden; }
.spec-editor .gutter { background: #f0f2f5; color: var(--muted); text-align: right; user-select: none; border-right: 1px solid var(--line); }
.spec-editor .scroller { padding: .4rem 0; }
.spec-editor .gutter .ln { display: block; padding: 0 .5rem; min-width: 2.6rem; height: 1.5em; }
.spec-editor .gutter .ln.error-line { background: var(--bad); color: #fff; font-weight: 700; }
.spec-editor .text { position: relative; }
.spec-editor .marks { position: absolute; inset: 0; pointer-events: none; }
.spec-editor .marks .mark { display: block; height: 1.5em; }
.spec-editor .marks .mark.error-line { background: #fdecea; border-left: 3px solid var(--bad); }
.spec-editor textarea { position: relative; display: block; width: 100%; max-width: none; margin: 0; border: 0; border-radius: 0; padding: .4rem .6rem; background: transparent; font: inherit; line-height: 1.5; resize: vertical; white-space: pre; overflow: auto; tab-size: 2; }
ol.spec-problems { margin: .4rem 0 0; padding-left: 1.4rem; }
ol.spec-problems code.field { font-weight: 600; }
.diff-file { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin-bottom: .8rem; }
.diff-file .table-wrap { border: 0; border-radius: 0 0 8px 8px; }
.diff-file-header { padding: .45rem .7rem; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: .5rem; align-items: baseline; }
.diff-file-header .counts { margin-left: auto; }
.added { color: var(--ok); font-weight: 600; }
.deleted { color: var(--bad); font-weight: 600; }
table.diff td { padding: 0 .5rem; border: 0; font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre; }
table.diff td.ln { color: var(--muted); text-align: right; user-select: none; width: 1%; min-width: 2.5rem; }
table.diff td.code { width: 98%; }
table.diff tr.add td { background: #e6ffec; }
table.diff tr.add td.code { color: #0b4f1f; }
table.diff tr.del td { background: #ffebe9; }
table.diff tr.del td.code { color: #82071e; }
table.diff tr.hunk td { background: #eef3fc; color: var(--muted); }
.diff-note { padding: .4rem .7rem; margin: 0; }
.changeset { margin-bottom: 1.2rem; }
.changeset > .card { margin-bottom: .6rem; }
.state-QUEUED, .state-PENDING, .state-UNPUBLISHED { color: var(--muted); }
.state-PROCESSING, .state-CANCELING, .state-OPEN { color: var(--accent); border-color: var(--accent); }
.state-COMPLETED, .state-MERGED { color: var(--ok); border-color: var(--ok); }
.state-FAILED { color: var(--bad); border-color: var(--bad); }
.state-CANCELED, .state-SKIPPED, .state-CLOSED { color: var(--warn); border-color: var(--warn); }
a.button { display: inline-block; padding: .35rem .8rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; text-decoration: none; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .6rem 0; }
.actions label { display: inline; font-weight: normal; margin: 0; }
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
    var entriesHref = entries.getAttribute('data-entries-href');
    if (entriesHref) { var full = document.createElement('a'); full.href = entriesHref + e.entryId; full.textContent = 'full output'; summary.appendChild(full); }
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
/**
 * The batch spec editor: the gutter's numbers and the problem marks follow the textarea's scrolling and
 * its line count; a problem's link selects its line in the textarea.
 */
(function () {
  var editor = document.querySelector('[data-spec-editor]');
  if (!editor) return;
  var textarea = editor.querySelector('textarea');
  var gutter = editor.querySelector('.gutter .scroller');
  var marks = editor.querySelector('.marks .scroller');
  function sync() {
    var y = 'translateY(' + (-textarea.scrollTop) + 'px)';
    gutter.style.transform = y;
    marks.style.transform = y + ' translateX(' + (-textarea.scrollLeft) + 'px)';
  }
  function renumber() {
    var lines = textarea.value.split('\\n');
    var n = Math.max(1, lines.length - (lines.length > 1 && lines[lines.length - 1] === '' ? 1 : 0));
    while (gutter.children.length < n) {
      var i = gutter.children.length + 1;
      var ln = document.createElement('span'); ln.className = 'ln'; ln.setAttribute('data-line', String(i)); ln.textContent = String(i);
      gutter.appendChild(ln);
      var mark = document.createElement('span'); mark.className = 'mark'; mark.textContent = ' ';
      marks.appendChild(mark);
    }
    while (gutter.children.length > n && !gutter.lastElementChild.classList.contains('error-line')) {
      gutter.removeChild(gutter.lastElementChild);
      marks.removeChild(marks.lastElementChild);
    }
    sync();
  }
  textarea.addEventListener('scroll', sync);
  textarea.addEventListener('input', renumber);
  document.querySelectorAll('a.spec-line-link').forEach(function (a) {
    a.addEventListener('click', function (event) {
      event.preventDefault();
      var line = Number(a.getAttribute('data-line'));
      var lines = textarea.value.split('\\n');
      var start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      var end = start + (lines[line - 1] || '').length;
      textarea.focus();
      textarea.setSelectionRange(start, end);
      var lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
      textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
      sync();
    });
  });
  renumber();
})();

/**
 * Parts of a page marked data-refresh-while-live="<ms>" (a batch change's workspaces while its execution
 * runs): re-read from the page's own URL every <ms> and replaced, until the new part is no longer live.
 */
(function () {
  var live = document.querySelectorAll('[data-refresh-while-live][id]');
  if (live.length === 0 || !window.fetch || !window.DOMParser) return;
  var ms = Math.max(500, Number(live[0].getAttribute('data-refresh-while-live')) || 2000);
  var ids = Array.prototype.map.call(live, function (el) { return el.id; });
  function poll() {
    fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } }).then(function (res) {
      if (!res.ok) throw new Error(String(res.status));
      return res.text();
    }).then(function (text) {
      var doc = new DOMParser().parseFromString(text, 'text/html');
      var more = false;
      ids.forEach(function (id) {
        var now = document.getElementById(id);
        var next = doc.getElementById(id);
        if (!now || !next) return;
        now.replaceWith(document.importNode(next, true));
        if (next.hasAttribute('data-refresh-while-live')) more = true;
      });
      if (more) setTimeout(poll, ms);
    }).catch(function () { setTimeout(poll, ms * 4); });
  }
  setTimeout(poll, ms);
})();
`;
