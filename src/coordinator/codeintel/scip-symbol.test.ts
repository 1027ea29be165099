import { describe, expect, it } from 'vitest';
import { isLocalSymbol, symbolPackage } from './scip-symbol.js';

describe('SCIP symbols', () => {
  it('reads the scheme and package of a global symbol, with escaped spaces and empty parts', () => {
    expect(symbolPackage('scip-typescript npm demo-ts 1.0.0 src/`math.ts`/add().')).toEqual({ scheme: 'scip-typescript', manager: 'npm', name: 'demo-ts', version: '1.0.0' });
    expect(symbolPackage('scip-python python my  pkg 0.1 mod/f().')).toEqual({ scheme: 'scip-python', manager: 'python', name: 'my pkg', version: '0.1' });
    expect(symbolPackage('scip-go gomod . . pkg/X#')).toEqual({ scheme: 'scip-go', manager: 'gomod', name: '', version: '' });
  });

  it('has no package for a local or malformed symbol', () => {
    expect(isLocalSymbol('local 3')).toBe(true);
    expect(symbolPackage('local 3')).toBeNull();
    expect(symbolPackage('too short')).toBeNull();
  });
});
