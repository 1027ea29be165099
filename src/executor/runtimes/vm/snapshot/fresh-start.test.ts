// The fresh-start helper's bytes against its source, and the payload's layout. (That it works — two restored
// guests differ in their random numbers, the clock is right — is vm-runtime.test.ts, on real guests.)
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FRESH_START_ASSEMBLY, FRESH_START_BYTES, FRESH_START_HELPER, freshStartPayload } from './fresh-start.js';

const run = promisify(execFile);

function haveBinutils(): boolean {
  try {
    execFileSync('as', ['--version'], { stdio: 'ignore' });
    execFileSync('ld', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('fresh-start helper', () => {
  // CI installs binutils (.ci/run); elsewhere the skip says what is missing.
  const binutils = process.env.CI === 'true' || haveBinutils();
  it.skipIf(!binutils)('is FRESH_START_ASSEMBLY assembled and linked as its comment says (needs binutils: as, ld)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fresh-start-'));
    try {
      await fs.writeFile(path.join(dir, 'h.s'), FRESH_START_ASSEMBLY);
      await run('as', ['-o', path.join(dir, 'h.o'), path.join(dir, 'h.s')]);
      await run('ld', ['-static', '-nostdlib', '-n', '-s', '-o', path.join(dir, 'h'), path.join(dir, 'h.o')]);
      expect((await fs.readFile(path.join(dir, 'h'))).equals(FRESH_START_HELPER)).toBe(true);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('is a static x86-64 ELF executable with one read-only, executable segment', () => {
    expect(FRESH_START_HELPER.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(FRESH_START_HELPER[4]).toBe(2); // 64-bit
    expect(FRESH_START_HELPER.readUInt16LE(0x12)).toBe(0x3e); // x86-64
    const phoff = Number(FRESH_START_HELPER.readBigUInt64LE(0x20));
    expect(FRESH_START_HELPER.readUInt16LE(0x38)).toBe(1);
    expect(FRESH_START_HELPER.readUInt32LE(phoff)).toBe(1); // PT_LOAD, no PT_INTERP
    expect(FRESH_START_HELPER.readUInt32LE(phoff + 4)).toBe(0b101); // R + X, not W
  });
});

describe('freshStartPayload', () => {
  it('lays out a timespec of the given time and a rand_pool_info crediting 512 bits of the seed', () => {
    const seed = Buffer.alloc(64, 0xab);
    const payload = freshStartPayload(1_796_221_453_123.5, seed);
    expect(payload.length).toBe(FRESH_START_BYTES);
    expect(payload.readBigInt64LE(0)).toBe(1_796_221_453n);
    expect(payload.readBigInt64LE(8)).toBe(123_500_000n);
    expect(payload.readInt32LE(16)).toBe(512);
    expect(payload.readInt32LE(20)).toBe(64);
    expect(payload.subarray(24).equals(seed)).toBe(true);
  });

  it('never writes a nanosecond count of a whole second or more, and draws a new seed each time', () => {
    expect(freshStartPayload(1_999.9999999).readBigInt64LE(8)).toBeLessThan(1_000_000_000n);
    expect(freshStartPayload().subarray(24).equals(freshStartPayload().subarray(24))).toBe(false);
  });
});
