import { describe, expect, it } from 'vitest';
import { compareRanges, packOccurrences, packRanges, rangeContains, unpackOccurrences, unpackRanges, type PackedOccurrence } from './occurrence-codec.js';

describe('packed occurrences and ranges', () => {
  it('round-trips occurrences sorted by position, large numbers included', () => {
    const occ: PackedOccurrence[] = [
      { startLine: 0, startCharacter: 0, endLine: 0, endCharacter: 0, symbolId: 0, roles: 1 },
      { startLine: 3, startCharacter: 12, endLine: 3, endCharacter: 15, symbolId: 70_000, roles: 0 },
      { startLine: 3, startCharacter: 20, endLine: 9, endCharacter: 1, symbolId: 2, roles: 8 },
      { startLine: 2_000_000, startCharacter: 5, endLine: 2_000_000, endCharacter: 300, symbolId: 1, roles: 0 },
    ];
    const packed = packOccurrences(occ);
    expect(unpackOccurrences(packed)).toEqual(occ);
    expect(packed.length).toBeLessThan(occ.length * 10);
    expect(unpackRanges(packRanges(occ))).toEqual(occ.map(({ startLine, startCharacter, endLine, endCharacter }) => ({ startLine, startCharacter, endLine, endCharacter })));
  });

  it('refuses packed bytes that end in the middle of a number', () => {
    const packed = packRanges([{ startLine: 1, startCharacter: 300, endLine: 1, endCharacter: 301 }]);
    expect(() => unpackRanges(packed.subarray(0, 2))).toThrow(/end in the middle/);
  });

  it('contains a position from the range start up to, not including, its end', () => {
    const r = { startLine: 2, startCharacter: 21, endLine: 2, endCharacter: 24 };
    expect([20, 21, 23, 24].map((c) => rangeContains(r, 2, c))).toEqual([false, true, true, false]);
    expect(rangeContains({ startLine: 1, startCharacter: 5, endLine: 3, endCharacter: 1 }, 2, 0)).toBe(true);
    expect(compareRanges(r, { ...r, startCharacter: 22 })).toBeLessThan(0);
  });
});

describe('packed document ranges', () => {
  it('round-trips a symbol\'s ranges across documents, and starts afresh after take()', async () => {
    const { DocumentRangeWriter, unpackDocumentRanges } = await import('./occurrence-codec.js');
    const w = new DocumentRangeWriter();
    const entries = [
      { documentId: 0, range: { startLine: 4, startCharacter: 1, endLine: 4, endCharacter: 5 } },
      { documentId: 0, range: { startLine: 9, startCharacter: 2, endLine: 10, endCharacter: 0 } },
      { documentId: 7, range: { startLine: 1, startCharacter: 0, endLine: 1, endCharacter: 3 } },
      { documentId: 70_000, range: { startLine: 500_000, startCharacter: 9, endLine: 500_000, endCharacter: 12 } },
    ];
    for (const e of entries) w.push(e.documentId, e.range);
    expect(unpackDocumentRanges(w.take())).toEqual(entries);
    w.push(3, entries[0]!.range);
    expect(unpackDocumentRanges(w.take())).toEqual([{ documentId: 3, range: entries[0]!.range }]);
  });
});
