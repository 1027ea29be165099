// Small repositories for code-intelligence tests, with the positions the assertions use: a TypeScript
// project with a documented function referenced across files, and a Python package the same way.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The indexers and src as `npm install` puts them on this package's node_modules/.bin. */
export const BIN_DIR = path.join(repoRoot, 'node_modules/.bin');

export const TYPESCRIPT_FILES: Record<string, string> = {
  'package.json': '{ "name": "demo-ts", "version": "1.0.0" }\n',
  'tsconfig.json': '{ "compilerOptions": { "target": "ES2020", "module": "commonjs", "strict": true }, "include": ["src"] }\n',
  'src/math.ts': '/** Adds two numbers. */\nexport function add(a: number, b: number): number {\n  return a + b;\n}\n',
  'src/main.ts': "import { add } from './math';\n\nexport const total = add(1, 2);\nconsole.log(add(total, 3));\n",
};

/** Zero-based positions in TYPESCRIPT_FILES. */
export const TS = {
  /** `add` in `export const total = add(1, 2);` */
  addCall: { path: 'src/main.ts', line: 2, character: 21 },
  addDefinition: { path: 'src/math.ts', range: { start: { line: 1, character: 16 }, end: { line: 1, character: 19 } } },
  /** Every occurrence of `add`: its definition, the import, two calls. */
  addOccurrences: [
    { path: 'src/main.ts', line: 0, character: 9 },
    { path: 'src/main.ts', line: 2, character: 21 },
    { path: 'src/main.ts', line: 3, character: 12 },
    { path: 'src/math.ts', line: 1, character: 16 },
  ],
  hoverDoc: 'Adds two numbers.',
};

export const PYTHON_FILES: Record<string, string> = {
  'pyproject.toml': '[project]\nname = "demo-py"\nversion = "0.1.0"\n',
  'pkg/__init__.py': '',
  'pkg/util.py': 'def greet(name: str) -> str:\n    """Returns a greeting."""\n    return "hi " + name\n',
  'pkg/main.py': 'from pkg.util import greet\n\nprint(greet("x"))\n',
};

export const PY = {
  /** `greet` in `print(greet("x"))` */
  greetCall: { path: 'pkg/main.py', line: 2, character: 7 },
  greetDefinition: { path: 'pkg/util.py', range: { start: { line: 0, character: 4 }, end: { line: 0, character: 9 } } },
  hoverDoc: 'Returns a greeting.',
};

/** Runs scip-typescript (or scip-python) in `dir`, as an index job would; resolves to the index's path. */
export async function runIndexer(indexer: 'scip-typescript' | 'scip-python', dir: string): Promise<string> {
  const args = indexer === 'scip-typescript' ? ['index'] : ['index', '.', '--project-name', 'demo-py', '--project-version', '0.1.0'];
  await promisify(execFile)(path.join(BIN_DIR, indexer), args, { cwd: dir, timeout: 120_000 });
  return path.join(dir, 'index.scip');
}
