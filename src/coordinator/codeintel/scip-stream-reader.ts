// Reads a SCIP index (the protobuf `scip.Index` message) from a stream of bytes one top-level field at a
// time: the metadata, then each document and each external symbol as soon as its bytes have arrived.
// Only one document is held at once, so a 1 GB index is processed in the memory of its largest document.
import { fromBinary } from '@bufbuild/protobuf';
import { DocumentSchema, MetadataSchema, SymbolInformationSchema, type Document, type Metadata, type SymbolInformation } from '@c4312/scip/scip_pb.js';
import { AppError } from '../../shared/errors.js';

/** The largest single document or symbol accepted, in bytes (a generated 50 MB file is ~1 MB of SCIP). */
export const MAX_SCIP_MESSAGE_BYTES = 256 * 1024 * 1024;

export type ScipItem =
  | { kind: 'metadata'; metadata: Metadata }
  | { kind: 'document'; document: Document; index: number }
  | { kind: 'externalSymbol'; symbol: SymbolInformation };

/** The index is not valid SCIP (`codeintel.invalid_scip`): the message says where and why. */
function invalid(message: string): AppError {
  return new AppError('codeintel.invalid_scip', `the index is not valid SCIP: ${message}`);
}

class ByteSource {
  private chunks: Buffer[] = [];
  private head: Buffer = Buffer.alloc(0);
  private headPos = 0;
  private buffered = 0;
  /** Bytes consumed so far (for messages that say where). */
  offset = 0;
  private ended = false;

  constructor(private readonly iterator: AsyncIterator<Buffer>) {}

  /** Ensures `n` bytes are buffered; false if the stream ends before. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.ended) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return this.buffered >= n;
      }
      if (next.value.length === 0) continue;
      this.chunks.push(next.value);
      this.buffered += next.value.length;
    }
    return true;
  }

  private byteAt(): number {
    while (this.headPos >= this.head.length) {
      const chunk = this.chunks.shift();
      if (!chunk) throw new Error('ByteSource: no byte buffered');
      this.head = chunk;
      this.headPos = 0;
    }
    this.buffered--;
    this.offset++;
    return this.head[this.headPos++]!;
  }

  /** Whether the stream is at its end (no byte left). */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  async varint(what: string): Promise<number> {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (!(await this.fill(1))) throw invalid(`it ends in the middle of ${what} (at byte ${this.offset}): the file is truncated`);
      const byte = this.byteAt();
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    throw invalid(`${what} at byte ${this.offset} is not a valid varint`);
  }

  async bytes(n: number, what: string): Promise<Buffer> {
    if (!(await this.fill(n))) throw invalid(`${what} (at byte ${this.offset}) declares ${n} bytes but the file ends after ${this.buffered}: the file is truncated`);
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      if (this.headPos >= this.head.length) {
        this.head = this.chunks.shift()!;
        this.headPos = 0;
      }
      const take = Math.min(n - written, this.head.length - this.headPos);
      this.head.copy(out, written, this.headPos, this.headPos + take);
      this.headPos += take;
      written += take;
    }
    this.buffered -= n;
    this.offset += n;
    return out;
  }

  async skip(n: number, what: string): Promise<void> {
    await this.bytes(n, what);
  }
}

function decode<T>(what: string, offset: number, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw invalid(`${what} at byte ${offset} does not decode: ${(err as Error).message}`);
  }
}

/**
 * Yields the metadata, documents (numbered from 0) and external symbols of a SCIP index in the order
 * they appear. Throws AppError `codeintel.invalid_scip` for bytes that are not a SCIP index (a wrong
 * wire type, a truncated field, a message that does not decode, a message over MAX_SCIP_MESSAGE_BYTES).
 */
export async function* readScipIndex(bytes: AsyncIterable<Buffer>): AsyncGenerator<ScipItem> {
  const source = new ByteSource(bytes[Symbol.asyncIterator]());
  let documentIndex = 0;
  while (!(await source.atEnd())) {
    const at = source.offset;
    const tag = await source.varint('a field tag');
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 0) throw invalid(`field number 0 at byte ${at}`);
    if (wireType === 0) {
      await source.varint(`field ${field}`);
      continue;
    }
    if (wireType === 1 || wireType === 5) {
      await source.skip(wireType === 1 ? 8 : 4, `field ${field}`);
      continue;
    }
    if (wireType !== 2) throw invalid(`field ${field} at byte ${at} has wire type ${wireType}, which scip.Index never uses`);
    const length = await source.varint(`the length of field ${field}`);
    const what = field === 2 ? `document ${documentIndex}` : field === 1 ? 'the metadata' : field === 3 ? 'an external symbol' : `field ${field}`;
    if (length > MAX_SCIP_MESSAGE_BYTES) throw invalid(`${what} at byte ${at} is ${length} bytes, over the limit of ${MAX_SCIP_MESSAGE_BYTES}`);
    const body = await source.bytes(length, what);
    if (field === 1) {
      yield { kind: 'metadata', metadata: decode(what, at, () => fromBinary(MetadataSchema, body)) };
    } else if (field === 2) {
      const document = decode(what, at, () => fromBinary(DocumentSchema, body));
      yield { kind: 'document', document, index: documentIndex++ };
    } else if (field === 3) {
      yield { kind: 'externalSymbol', symbol: decode(what, at, () => fromBinary(SymbolInformationSchema, body)) };
    }
  }
}
