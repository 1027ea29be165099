// The test Go-template renderer that stands in for helm: Go's text/template semantics where the chart
// relies on them, checked against what Go prints for the same templates.
import { describe, expect, it } from 'vitest';
import { GoTemplateEngine } from './go-template.js';

const render = (source: string, data: unknown = {}, defines = '') => {
  const engine = new GoTemplateEngine();
  engine.add(defines);
  return engine.render(engine.add(source), data);
};

describe('the Go-template renderer', () => {
  it('trims whitespace at {{- and -}} and drops comments', () => {
    expect(render('a  {{- "b" -}}  c {{/* gone */}}d')).toBe('abc d');
    expect(render('x:\n  {{- if true }}\n  y: 1\n  {{- end }}\n')).toBe('x:\n  y: 1\n');
  });

  it('evaluates if / else if / else, with, and Go\'s truthiness', () => {
    const t = '{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}';
    expect([render(t, { a: 1 }), render(t, { a: 0, b: 'x' }), render(t, { a: [], b: {} })]).toEqual(['A', 'B', 'C']);
    expect(render('{{ with .m }}{{ .k }}{{ else }}none{{ end }}', { m: { k: 'v' } })).toBe('v');
    expect(render('{{ with .m }}{{ .k }}{{ else }}none{{ end }}', { m: {} })).toBe('none');
  });

  it('ranges over lists and maps (keys sorted) and assigns to outer variables', () => {
    expect(render('{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}', { l: ['a', 'b'] })).toBe('0=a;1=b;');
    expect(render('{{ range $k, $v := .m }}{{ $k }}={{ $v }},{{ end }}', { m: { b: 2, a: 1 } })).toBe('a=1,b=2,');
    expect(render('{{ $all := list }}{{ range .l }}{{ $all = append $all (upper .) }}{{ end }}{{ join "," $all }}', { l: ['x', 'y'] })).toBe('X,Y');
  });

  it('includes defines with nindent, and prints YAML with sorted keys and no trailing newline', () => {
    const defines = '{{- define "labels" -}}\nb: 2\na: {{ .name | quote }}\n{{- end -}}';
    expect(render('labels:\n  {{- include "labels" . | nindent 2 }}\n', { name: 'x' }, defines)).toBe('labels:\n  b: 2\n  a: "x"\n');
    expect(render('{{ toYaml .v }}', { v: { z: 1, a: [1, 'two'] } })).toBe('a:\n  - 1\n  - two\nz: 1');
    expect(render('{{ printf "%s-%d" .n 7 | trunc 5 }}', { n: 'abcdef' })).toBe('abcde');
  });

  it('fails like helm: a field of nil, an unknown function, and required', () => {
    expect(() => render('{{ .a.b }}', {})).toThrow(/nil pointer evaluating interface \{\}\.b/);
    expect(() => render('{{ nosuch 1 }}')).toThrow(/function "nosuch" not defined/);
    expect(() => render('{{ required "x is required" .x }}', {})).toThrow('x is required');
  });
});
