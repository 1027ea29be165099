// Renders the subset of Terraform's template language (templatefile) that the modules' startup script
// uses, so tests can check the script Terraform would produce without a terraform binary: `${name}`,
// `%{ for key, value in map ~}` … `%{ endfor ~}` (keys in lexical order, as Terraform iterates maps), the
// `~` strip markers, and the `$${` / `%%{` escapes. Anything else throws, so a template that starts using
// more of the language fails its test instead of being rendered wrongly.

type Value = string | Record<string, string>;

export function renderTemplate(template: string, vars: Record<string, Value>): string {
  // Tokens: template directives/interpolations, or literal text.
  const parts: Array<{ kind: 'text'; text: string } | { kind: 'interp' | 'directive'; body: string; stripBefore: boolean; stripAfter: boolean }> = [];
  const re = /(\$\$\{|%%\{)|([$%])\{(~?)(.*?)(~?)\}/gs;
  let last = 0;
  for (let m = re.exec(template); m; m = re.exec(template)) {
    parts.push({ kind: 'text', text: template.slice(last, m.index) });
    if (m[1]) parts.push({ kind: 'text', text: m[1] === '$${' ? '${' : '%{' });
    else parts.push({ kind: m[2] === '$' ? 'interp' : 'directive', body: m[4]!.trim(), stripBefore: m[3] === '~', stripAfter: m[5] === '~' });
    last = re.lastIndex;
  }
  parts.push({ kind: 'text', text: template.slice(last) });
  // Strip markers remove the whitespace (newlines included) on their side.
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.kind === 'text') continue;
    const before = parts[i - 1];
    const after = parts[i + 1];
    if (p.stripBefore && before?.kind === 'text') before.text = before.text.replace(/\s+$/, '');
    if (p.stripAfter && after?.kind === 'text') after.text = after.text.replace(/^\s+/, '');
  }
  const scalar = (name: string, scope: Record<string, Value>): string => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`template uses an expression this renderer does not support: \${${name}}`);
    const v = scope[name];
    if (typeof v !== 'string') throw new Error(`template variable ${name} is ${v === undefined ? 'not given' : 'not a string'}`);
    return v;
  };
  const render = (from: number, to: number, scope: Record<string, Value>): string => {
    let out = '';
    for (let i = from; i < to; i++) {
      const p = parts[i]!;
      if (p.kind === 'text') out += p.text;
      else if (p.kind === 'interp') out += scalar(p.body, scope);
      else {
        const loop = /^for\s+(\w+)\s*,\s*(\w+)\s+in\s+(\w+)$/.exec(p.body);
        if (!loop) throw new Error(`template uses a directive this renderer does not support: %{${p.body}}`);
        let depth = 1;
        let end = i + 1;
        for (; end < to; end++) {
          const q = parts[end]!;
          if (q.kind !== 'directive') continue;
          if (q.body.startsWith('for ')) depth++;
          if (q.body === 'endfor' && --depth === 0) break;
        }
        if (end >= to) throw new Error('template: %{ for } without %{ endfor }');
        const map = scope[loop[3]!];
        if (typeof map !== 'object') throw new Error(`template: ${loop[3]} is not a map`);
        for (const key of Object.keys(map).sort()) out += render(i + 1, end, { ...scope, [loop[1]!]: key, [loop[2]!]: map[key]! });
        i = end;
      }
    }
    return out;
  };
  return render(0, parts.length, vars);
}
