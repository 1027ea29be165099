// The shell form of the helper's last step, `post <last> upload`: what `src batch-helper post <i> upload`
// does, in POSIX sh with git and curl — no node start (on the shell runtime a node start was most of what
// a batch workspace cost beyond a bare job: bench/RESULTS.md §9). It stages the step's changes, lists
// them (`diff-index --name-status -z` against the tree before the step), takes the diff against the base
// commit, and posts them as they are, a multipart form curl reads from the files
// (protocol/batch-result-form.ts), beside the node helper's state from the steps before, with the job's
// own credentials from SRC_ENDPOINT,
// SRC_HEADER_<NAME>, SRC_HEADERS and SRC_PROXY (a UNIX socket), as src reads them. Retries as the node
// helper does (curl --retry: connection failures, 408, 429, 500, 502, 503, 504; 1 s apart, 5 tries).
//
// Every process counts (each start is a few ms here; a workspace's job runs ~20): builtins where sh has
// them, and no process for an empty file.
//
// The coordinator ships it as a job file only when the last step has no `outputs` (those are templates:
// the node helper renders them). Where a tool is missing (a step image without curl), or SRC_ACCESS_TOKEN
// is set (the node helper words its conflict with an Authorization header), it hands over to
// `src batch-helper post <i> upload`, which does the same in node.
//
// Usage (in the workspace root): sh .batches/upload.sh <step index> <base commit>. The token never
// appears in a command line: curl reads the headers from its stdin.
import { BATCH_REPOSITORY_DIRECTORY, BATCH_RESULTS_ROUTE, MAX_STEP_OUTPUT_BYTES } from '../protocol/batch-execution-paths.js';
import { LAST_TREE_FILE, stepFiles } from './batch-step-script.js';

/** Its name in the helper's directory (`.batches`). */
export const UPLOAD_SCRIPT_FILE = 'upload.sh';

/** The script; `index` and the base commit are its arguments, so one text serves every job. */
export function batchUploadScript(): string {
  const f = stepFiles(0);
  // stepFiles' names with the index as the shell's $i.
  const name = (file: string) => `"${file.replace('0', '$i')}"`;
  return `# The helper's last step in sh: stage, list and diff the step's changes, upload the result.
# Usage: sh .batches/${UPLOAD_SCRIPT_FILE} <step index> <base commit>   (in the workspace root)
i=$1 base=$2
case $0 in /*) b=\${0%/*} ;; */*) b=$PWD/\${0%/*} ;; *) b=$PWD ;; esac
r=\${b%/*}/${BATCH_REPOSITORY_DIRECTORY}
node_helper() { echo "$1: src batch-helper uploads"; exec src batch-helper post "$i" upload; }
for tool in git curl head wc sed; do command -v $tool >/dev/null 2>&1 || node_helper "no $tool on PATH"; done
[ -z "\${SRC_ACCESS_TOKEN:-}" ] || node_helper "SRC_ACCESS_TOKEN is set"
fail() { echo "error: $1" >&2; exit 1; }
g() { GIT_TERMINAL_PROMPT=0 git -C "$r" -c core.quotepath=off -c safe.directory='*' "$@"; }
cd "$b" || fail "cannot enter the helper's directory $b"

g add --all || fail "git add failed"
from=$base
[ -f ${LAST_TREE_FILE} ] && read -r from < ${LAST_TREE_FILE}
case $from in '' | *[!0-9a-f]*) from=$base ;; esac
if [ -e ${name(f.skipped)} ]; then
  skipped=true code=null
  : > "changes$i"
else
  skipped=false code=
  [ -f ${name(f.exitCode)} ] && read -r code < ${name(f.exitCode)}
  case $code in '' | *[!0-9]*) code=null ;; *) while case $code in 0?*) true ;; *) false ;; esac; do code=\${code#0}; done ;; esac
  g diff-index --cached -z -M --name-status "$from" > "changes$i" || fail "git diff-index failed"
fi
g diff --cached --binary --no-color --no-ext-diff --no-renames "$base" > result.diff || fail "git diff failed"

# The step's output as the result keeps it: its first ${MAX_STEP_OUTPUT_BYTES} bytes (no process for an empty one).
kept() {
  : >> "$1"
  if [ -s "$1" ] && [ "$(wc -c < "$1")" -gt ${MAX_STEP_OUTPUT_BYTES} ]; then head -c ${MAX_STEP_OUTPUT_BYTES} "$1" > "$1.kept" && echo "$1.kept"; else echo "$1"; fi
}
stdout=$(kept ${name(f.stdout)}) || fail "cannot read the step's stdout"
stderr=$(kept ${name(f.stderr)}) || fail "cannot read the step's stderr"

endpoint=\${SRC_ENDPOINT:-https://sourcegraph.com}
while case $endpoint in */) true ;; *) false ;; esac; do endpoint=\${endpoint%/}; done
proxy=\${SRC_PROXY:-}
proxy=\${proxy#unix://}
case $proxy in
  [A-Za-z]*://*) fail "SRC_PROXY=$SRC_PROXY: this build of src supports only UNIX domain socket proxies (a path, or unix:///path)" ;;
  \\~/*) proxy=$HOME/\${proxy#??} ;;
esac

# The headers, one "Name: value" per line: SRC_HEADER_<NAME> (names are case-insensitive in HTTP), then
# SRC_HEADERS' lines (quotes around it dropped, a literal \\n read as a line break).
nl='
'
esc='\\n'
trim() { t=\${1#"\${1%%[![:space:]]*}"}; t=\${t%"\${t##*[![:space:]]}"}; }
headers() {
  export -p | while IFS= read -r line; do
    case $line in 'export SRC_HEADER_'?*=* | 'declare -x SRC_HEADER_'?*=*) ;; *) continue ;; esac
    var=\${line#* SRC_HEADER_}
    var=SRC_HEADER_\${var%%=*}
    case $var in *[!A-Za-z0-9_]*) continue ;; esac
    eval "value=\\\${$var:-}"
    [ -n "$value" ] && printf '%s: %s\\n' "\${var#SRC_HEADER_}" "$value"
  done
  h=\${SRC_HEADERS:-}
  h=\${h#\\"}
  h=\${h%\\"}
  while :; do case $h in *"$esc"*) h=\${h%%"$esc"*}$nl\${h#*"$esc"} ;; *) break ;; esac; done
  printf '%s\\n' "$h" | while IFS= read -r line; do
    case $line in *:*) ;; *) continue ;; esac
    trim "\${line%%:*}"; hname=$t
    trim "\${line#*:}"
    [ -n "$hname" ] && [ -n "$t" ] && printf '%s: %s\\n' "$hname" "$t"
  done
}

state=state=null
[ -f state.json ] && state='state=<state.json'
set -- --silent --show-error --retry 4 --retry-delay 1 --retry-connrefused \\
  --header @- --user-agent 'src-cli (executors) batch-helper (sh)' \\
  --form version=1 --form "$state" --form "index=$i" --form "skipped=$skipped" --form "exitCode=$code" \\
  --form "stdout=@$stdout" --form "stderr=@$stderr" --form "changes=@changes$i" --form diff=@result.diff \\
  --output answer --write-out '%{http_code}'
[ -z "$proxy" ] || set -- "$@" --unix-socket "$proxy"
status=$(headers | curl "$@" "$endpoint${BATCH_RESULTS_ROUTE}")
rc=$?
case $rc:$status in
  0:2??) echo "uploaded the result: the diff and step $i (shell helper)"; exit 0 ;;
  0:*)
    message=
    [ -f answer ] && message=$(sed -n -e 's/^{"error":"\\(.*\\)"[,}].*$/\\1/' -e 's/\\\\"/"/g' -e p answer)
    fail "the result was not stored: the coordinator answered $status: $message" ;;
  *) fail "the result was not stored: cannot reach $endpoint (curl exit status $rc)" ;;
esac
`;
}
