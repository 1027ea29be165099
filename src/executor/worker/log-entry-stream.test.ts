import { describe, expect, it } from 'vitest';
import { ExecutionLogEntrySchema } from '../../protocol/execution-log-entry.js';
import { LogEntryStream } from './log-entry-stream.js';
import { Redactor } from './redactor.js';

const none = new Redactor({});

describe('LogEntryStream', () => {
  it('splits both pipes into prefixed lines, keeping a partial line until its newline', () => {
    const e = new LogEntryStream({ key: 'step.docker.0', command: ['sh', '-c', 'make'], redactor: none });
    e.write('stdout', 'hel');
    expect(e.out).toBe('');
    e.write('stderr', Buffer.from('warn\r\nerr'));
    e.write('stdout', 'lo\nwor');
    expect(e.out).toBe('stderr: warn\nstdout: hello\n');
    e.write('stdout', 'ld\n\n');
    expect(e.out).toBe('stderr: warn\nstdout: hello\nstdout: world\nstdout: \n');
    e.finalize(3);
    expect(e.out).toBe('stderr: warn\nstdout: hello\nstdout: world\nstdout: \nstderr: err\n');
    expect(e.snapshot()).toMatchObject({ key: 'step.docker.0', command: ['sh', '-c', 'make'], exitCode: 3 });
    expect(ExecutionLogEntrySchema.safeParse(e.snapshot()).success).toBe(true);
  });

  it('decodes a UTF-8 character split across chunks', () => {
    const e = new LogEntryStream({ key: 'k', command: [], redactor: none });
    const bytes = Buffer.from('héllo ✓\n');
    for (const byte of bytes) e.write('stdout', Buffer.from([byte]));
    expect(e.out).toBe('stdout: héllo ✓\n');
  });

  it('redacts the key, the command and a secret split across reads of one pipe', () => {
    const r = new Redactor({ s3cr3t: '[pw]' });
    const e = new LogEntryStream({ key: 'step-s3cr3t', command: ['login', '--password=s3cr3t'], redactor: r });
    expect(e.key).toBe('step-[pw]');
    expect(e.command).toEqual(['login', '--password=[pw]']);
    for (const c of 'using s3cr3t\n') e.write('stdout', c);
    e.write('stderr', 's3c');
    e.finalize(0);
    expect(e.out).toBe('stdout: using [pw]\nstderr: s3c\n');
  });

  it('reports nothing as finished until finalize, then exit code and a duration, and ignores later writes', async () => {
    const e = new LogEntryStream({ key: 'k', command: [], redactor: none });
    expect(e.snapshot()).not.toHaveProperty('exitCode');
    expect(e.finalized).toBe(false);
    expect(ExecutionLogEntrySchema.parse(e.snapshot()).startTime).toBe(e.startTime);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const before = e.revision;
    e.finalize(0);
    expect(e.revision).toBeGreaterThan(before);
    expect(e.exitCode).toBe(0);
    expect(e.durationMs).toBeGreaterThanOrEqual(15);
    e.write('stdout', 'late\n');
    e.finalize(1);
    expect(e.out).toBe('');
    expect(e.exitCode).toBe(0);
  });

  it('stops at the output cap with one truncation line whose dropped count is final at finalize', () => {
    const e = new LogEntryStream({ key: 'k', command: [], redactor: none, maxOutputBytes: 40 });
    e.write('stdout', 'first line\n'); // 19 bytes with prefix
    e.write('stdout', 'second line is long\n'); // 28: 21 fit (12 of its text), 8 dropped
    const truncated = 'stdout: first line\nstdout: second line \n<executor: output truncated after 40 bytes; 8 more bytes dropped>\n';
    expect(e.out).toBe(truncated);
    const revision = e.revision;
    e.write('stderr', 'more\n');
    e.write('stdout', 'and more');
    // Dropped output changes nothing sent until finalize.
    expect(e.revision).toBe(revision);
    expect(e.out).toBe(truncated);
    e.finalize(0);
    expect(e.out).toBe('stdout: first line\nstdout: second line \n<executor: output truncated after 40 bytes; 21 more bytes dropped>\n');
    expect(e.out.match(/<executor:/g)).toHaveLength(1);
  });

  it('cuts a line that never ends at the cap instead of holding it in memory', () => {
    const e = new LogEntryStream({ key: 'k', command: [], redactor: none, maxOutputBytes: 1000 });
    for (let i = 0; i < 100; i++) e.write('stdout', '✓'.repeat(100));
    expect(e.out).toMatch(/^stdout: ✓+\n<executor: output truncated after 1000 bytes; \d+ more bytes dropped>\n$/);
    expect(Buffer.byteLength(e.out.split('\n')[0]! + '\n')).toBeLessThanOrEqual(1000);
    e.finalize(0);
    // 30 000 bytes of ✓ written, 990 kept (330 characters): the rest dropped.
    expect(e.out).toContain('; 29010 more bytes dropped>');
  });
});
