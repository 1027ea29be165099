// A small client of QEMU's machine protocol (QMP: one JSON object per line) on the socket QEMU connects to
// at start (`-chardev socket,…` + `-mon chardev=…,mode=control`): the greeting, `qmp_capabilities`, then
// commands answered in order; asynchronous events are ignored (callers poll). The vm runtime uses it to
// pause and save a guest, restore one, and swap a restored guest's disks.
import type net from 'node:net';
import { AppError } from '../../../../shared/errors.js';

/** Longest line accepted from QEMU, in bytes (block node listings are the longest answers, a few KiB). */
const MAX_LINE_BYTES = 1024 * 1024;

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Commands in flight are answered in the order they were sent (QMP answers one at a time). */
export class QmpClient {
  private buffer = '';
  private readonly pending: Pending[] = [];
  private greeted: (() => void) | undefined;
  private closedError: AppError | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => {});
    socket.once('close', () => this.fail(new AppError('vm.qmp_closed', 'QEMU closed its QMP connection')));
  }

  /** Waits for QEMU's greeting on `socket` and leaves capability negotiation. */
  static async attach(socket: net.Socket): Promise<QmpClient> {
    const client = new QmpClient(socket);
    await new Promise<void>((resolve, reject) => {
      client.greeted = resolve;
      client.pending.push({ command: '(greeting)', resolve: () => {}, reject });
    });
    await client.execute('qmp_capabilities');
    return client;
  }

  /** Runs `command`; resolves with its `return`, rejects with `vm.qmp_failed` naming the command and QEMU's error. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ command, resolve: resolve as (value: unknown) => void, reject });
      this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.onLine(line);
    }
    if (this.buffer.length > MAX_LINE_BYTES) this.fail(new AppError('vm.qmp_failed', `QEMU sent a QMP line longer than ${MAX_LINE_BYTES} bytes`));
  }

  private onLine(line: string): void {
    let message: { QMP?: unknown; event?: string; return?: unknown; error?: { class?: string; desc?: string } };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      return this.fail(new AppError('vm.qmp_failed', `QEMU sent a QMP line that is not JSON: ${line.slice(0, 120)}`));
    }
    if (message.QMP !== undefined) {
      this.pending.shift();
      this.greeted?.();
      this.greeted = undefined;
      return;
    }
    if (typeof message.event === 'string') return;
    const pending = this.pending.shift();
    if (!pending) return;
    if (message.error) pending.reject(new AppError('vm.qmp_failed', `QMP ${pending.command}: ${message.error.desc ?? message.error.class ?? 'failed'}`));
    else pending.resolve(message.return);
  }

  private fail(err: AppError): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const pending of this.pending.splice(0)) pending.reject(err);
    this.socket.destroy();
  }
}
