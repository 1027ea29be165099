// Go's text/template semantics, case by case: each expected output is what Go's text/template prints
// for the same template and data.
import { describe, expect, it } from 'vitest';
import { GoTemplateError, GoTemplateSet, GoUnknown, GoUnknownValueError, renderGoTemplate, sprintf, type GoTemplateOptions } from './index.js';

const render = (text: string, data: unknown = {}, options: GoTemplateOptions = {}) => renderGoTemplate(text, data, options);
const failure = (fn: () => unknown): GoTemplateError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof GoTemplateError) return err;
    throw err;
  }
  throw new Error('expected a GoTemplateError');
};

describe('the Go template language', () => {
  it('trims at {{- and -}} only with a space beside the dash, and drops comments', () => {
    expect(render('a  {{- "b" -}}  c')).toBe('abc');
    expect(render('{{ -3 }}')).toBe('-3');
    expect(render('x {{/* gone */}} y {{- /* also */ -}} z')).toBe('x  yz');
    expect(render('l1\n  {{- if true }}\n  in\n  {{- end }}\n')).toBe('l1\n  in\n');
  });

  it('takes other delimiters, leaving the default ones as text', () => {
    expect(render('${{ .a }} {{ .a }} ${x}', { a: 1 }, { delimiters: ['${{', '}}'] })).toBe('1 {{ .a }} ${x}');
    expect(render('${{ "${{" }} ${{ "}}" }}', {}, { delimiters: ['${{', '}}'] })).toBe('${{ }}');
  });

  it('decides if/else if/else, with/else with by Go\'s truth', () => {
    const t = '{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}';
    expect([render(t, { a: 1 }), render(t, { a: 0, b: 'x' }), render(t, { a: [], b: {} }), render(t, { a: '', b: null })]).toEqual(['A', 'B', 'C', 'C']);
    expect(render('{{ with .m }}{{ .k }}{{ else with .n }}n={{ . }}{{ else }}none{{ end }}', { m: {}, n: 2 })).toBe('n=2');
    expect(render('{{ if not .f }}no{{ end }}', { f: false })).toBe('no');
  });

  it('ranges over lists, maps in key order, and integers, with else, break and continue', () => {
    expect(render('{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}', { l: ['a', 'b'] })).toBe('0=a;1=b;');
    expect(render('{{ range $k, $v := . }}{{ $k }}:{{ $v }} {{ end }}', { b: 2, a: 1, c: 3 })).toBe('a:1 b:2 c:3 ');
    expect(render('{{ range 3 }}{{ . }}{{ end }}')).toBe('012');
    expect(render('{{ range .l }}x{{ else }}empty{{ end }}', { l: [] })).toBe('empty');
    expect(render('{{ range .l }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}', { l: [1, 2, 3, 4, 5] })).toBe('13');
  });

  it('scopes variables to their block and assigns with = where they were declared', () => {
    expect(render('{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}')).toBe('2');
    expect(failure(() => render('{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}')).message).toBe('template: template:1:39: undefined variable "$y"');
    expect(render('{{ range $v := .l }}{{ $ }}{{ end }}', { l: [1] })).toBe('map[l:[1]]');
  });

  it('reads map fields, chains off functions and parentheses, and pipes into the last argument', () => {
    const data = { a: { b: { c: 'deep' } }, l: ['x', 'y'] };
    expect(render('{{ .a.b.c }} {{ (index .l 1) }} {{ .a.b | len }} {{ "x" | printf "%s-%s" "y" }}', data)).toBe('deep y 1 y-x');
    const set = new GoTemplateSet({ functions: { ctx: () => ({ name: 'n' }) } });
    expect(set.parse('t', '{{ ctx.name }} {{ (ctx).name }}').execute('t', null)).toBe('n n');
  });

  it('missingkey: default prints <no value>, zero makes a nil (its field fails), error fails naming the key', () => {
    expect(render('{{ .nope }}', {})).toBe('<no value>');
    expect(render('{{ .nope.deeper }}', {})).toBe('<no value>');
    expect(failure(() => render('{{ .nope.deeper }}', {}, { missingKey: 'zero' })).detail).toBe('nil pointer evaluating interface {}.deeper');
    const err = failure(() => render('ok\n  {{ .a.nope }}', { a: {} }, { missingKey: 'error' }));
    expect(err.message).toBe('template: template:2:6: executing "template" at <.a.nope>: map has no entry for key "nope"');
    expect([err.line, err.column, err.nodeText]).toEqual([2, 6, '.a.nope']);
    expect(failure(() => render('{{ .s.x }}', { s: 'str' })).detail).toBe("can't evaluate field x in type string");
  });

  it('prints values as Go does: nil as <no value>, lists and maps (sorted) in fmt\'s %v', () => {
    expect(render('{{ .n }}|{{ .l }}|{{ .m }}|{{ .f }}|{{ .b }}', { n: null, l: ['a', 1, true], m: { z: 1, a: ['x'] }, f: 1.5, b: false })).toBe('<no value>|[a 1 true]|map[a:[x] z:1]|1.5|false');
    expect(render('{{ .big }} {{ .small }}', { big: 0.5e22, small: 0.00001 })).toBe('5e+21 1e-05');
  });

  it('and/or return the deciding operand and stop evaluating there (Go 1.18)', () => {
    expect(render('{{ and 1 "x" }} {{ and 1 0 "x" }} {{ or 0 "" "y" }} {{ or 0 "" }}')).toBe('x 0 y ');
    // The second operand would fail (index out of range) if it were evaluated.
    expect(render('{{ and false (index .l 5) }} {{ or true (index .l 5) }}', { l: [] })).toBe('false true');
  });

  it('compares with eq (several candidates), ne, lt, le, gt, ge; mixed kinds fail as in Go', () => {
    expect(render('{{ eq 1 2 3 1 }} {{ eq "a" "b" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }}')).toBe('true false true true true true false');
    expect(render('{{ eq .missing "x" }}', {})).toBe('false');
    expect(failure(() => render('{{ eq 1 "1" }}')).detail).toBe('error calling eq: incompatible types for comparison');
    expect(failure(() => render('{{ lt true false }}')).detail).toBe('error calling lt: invalid type for comparison');
    expect(failure(() => render('{{ eq .l .l }}', { l: [1] })).detail).toMatch(/^error calling eq: non-comparable type/);
  });

  it('index, slice and len: lists, maps, strings (bytes), with Go\'s errors', () => {
    const data = { l: ['a', 'b', 'c'], m: { k: { n: 'v' } }, s: 'héllo' };
    expect(render('{{ index .l 1 }} {{ index .m "k" "n" }} {{ index .m "none" }} {{ index .s 0 }}', data)).toBe('b v <no value> 104');
    expect(render('{{ slice .l 1 }} {{ slice .l 1 2 }} {{ slice "abcdef" 1 3 }} {{ len .s }} {{ len .l }} {{ len .m }}', data)).toBe('[b c] [b] bc 6 3 1');
    expect(failure(() => render('{{ index .l 5 }}', data)).detail).toBe('error calling index: index out of range: 5');
    expect(failure(() => render('{{ len 3 }}')).detail).toBe('error calling len: len of type int');
  });

  it('print, println and printf format as Go\'s fmt', () => {
    expect(render('{{ print 1 2 "a" 3 "b" "c" }}|{{ println 1 "a" }}|')).toBe('1 2a3bc|1 a\n|');
    expect(render('{{ printf "%s %d %v %q %t %x %X %%" "s" 42 .l "q\\n" true 255 "hi" }}', { l: [1, 2] })).toBe('s 42 [1 2] "q\\n" true ff 6869 %');
    expect(render('{{ printf "[%-6s][%6s][%05d][%+d][%.2f][%5.1f][%c][%.1f]" "ab" "cd" 42 7 3.14159 2.25 65 2.35 }}')).toBe('[ab    ][    cd][00042][+7][3.14][  2.2][A][2.4]');
    expect(sprintf('%d %s', ['x'])).toBe('%!d(string=x) %!s(MISSING)');
    expect(sprintf('%s', ['a', 2])).toBe('a%!(EXTRA int=2)');
    expect(sprintf('%v %s', [null, ['a', 'b']])).toBe('<nil> [a b]');
  });

  it('html, js and urlquery escape as Go does', () => {
    expect(render('{{ html "<a href=\'x\'>&</a>" }}')).toBe('&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;');
    expect(render('{{ js "it\'s <b>" }}')).toBe('it\\\'s \\u003Cb\\u003E');
    expect(render('{{ urlquery "a b&c/d" }}')).toBe('a+b%26c%2Fd');
  });

  it('define, template and block share a set; a define sees its own data', () => {
    const set = new GoTemplateSet();
    set.parse('helpers', '{{ define "greet" }}hello {{ .name }}{{ end }}');
    set.parse('main', '{{ template "greet" .user }}; {{ block "sig" . }}default sig{{ end }}');
    expect(set.execute('main', { user: { name: 'ann' } })).toBe('hello ann; default sig');
    expect(failure(() => new GoTemplateSet().parse('t', '{{ template "none" }}').execute('t', {})).detail).toBe('no such template "none"');
  });

  it('calls the caller\'s functions, checking declared argument counts, and wraps their errors', () => {
    const set = new GoTemplateSet({ functions: { boom: () => { throw new Error('bad thing'); }, double: (n: number) => n * 2 } });
    expect(set.parse('t', '{{ double 4 }} {{ 5 | double }}').execute('t', null)).toBe('8 10');
    expect(failure(() => set.parse('u', '{{ boom }}').execute('u', null)).detail).toBe('error calling boom: bad thing');
    expect(failure(() => render('{{ not 1 2 }}')).detail).toBe('wrong number of args for not: want 1 got 2');
    expect(failure(() => render('{{ "x" 1 }}')).detail).toBe("can't give argument to non-function \"x\"");
    expect(failure(() => render('{{ nil }}')).detail).toBe('nil is not a command');
  });

  it('refuses at parse time what Go refuses, naming the line and column', () => {
    const cases: Array<[string, string]> = [
      ['{{ nosuch 1 }}', 'template: template:1:4: function "nosuch" not defined'],
      ['a\n{{ $x }}', 'template: template:2:4: undefined variable "$x"'],
      ['{{ .a ', 'template: template:1:1: unclosed action'],
      ['{{ if .a }}x', 'template: template:1:13: unexpected EOF'],
      ['{{ end }}', 'template: template:1:4: unexpected {{end}}'],
      ['{{ break }}', 'template: template:1:4: {{break}} outside {{range}}'],
      ['{{ "unterminated }}', 'template: template:1:4: unterminated quoted string'],
      ['{{ if }}{{ end }}', 'template: template:1:7: missing value for if'],
      ['{{ 1 | 2 }}', 'template: template:1:8: non executable command in pipeline stage 2'],
      ['{{ .a # }}', 'template: template:1:7: unrecognized character in action: "#"'],
      ['{{ (1 }}', 'template: template:1:7: unclosed left paren'],
    ];
    for (const [text, message] of cases) expect(failure(() => render(text)).message, text).toBe(message);
  });

  it('evaluates partially: unknown values propagate, and output that depends on one throws', () => {
    const set = new GoTemplateSet({ functions: { later: () => new GoUnknown('later'), known: () => ({ n: 'x' }) } });
    const run = (text: string) => set.parse('p', text).execute('p', null);
    expect(run('{{ eq known.n "x" }}')).toBe('true');
    expect(run('{{ and (eq known.n "y") later.v }}')).toBe('false');
    expect(run('{{ or (eq known.n "x") later.v }}')).toBe('true');
    expect(() => run('{{ eq later.v "x" }}')).toThrow(GoUnknownValueError);
    expect(() => run('{{ if later }}a{{ end }}')).toThrow(GoUnknownValueError);
    expect(() => run('{{ and true later }}')).toThrow(GoUnknownValueError);
  });
});
