/**
 * gzip with every setting pinned, so the same layer tar always compresses to the same bytes and
 * therefore the same digest on every run and every instance, spread over the cores as pigz does:
 * compression is most of a conversion's CPU, and one zlib stream keeps one core busy at a time.
 *
 * The input is cut into fixed 1 MiB blocks, by offset only. Each block is deflated on the libuv
 * thread pool on its own, primed with the previous block's last 32 KiB as dictionary (so matches
 * reach back across the cut, as in one stream) and ended with a sync flush, which ends it on a byte
 * boundary without marking it last; the last block is finished instead. The pieces, written in
 * order behind a fixed gzip header (mtime 0, no name, OS Unix, as zlib writes it) and followed by
 * the CRC-32 and length of the whole input, are one valid gzip member. The bytes depend only on the
 * input and the level: not on how the input is chunked, how many blocks are in flight, or the
 * machine. A layer under one block compresses to exactly what a single zlib gzip stream writes.
 */
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { constants, crc32, deflateRaw } from 'node:zlib';

/** Bytes of tar each block deflates: pigz's choice of size, large against its 32 KiB dictionary. */
const BLOCK_BYTES = 1024 * 1024;

/** deflate's window: what a block may refer back to, and so the dictionary each block gets. */
const WINDOW_BYTES = 32 * 1024;

/**
 * Blocks in flight (dispatched to deflate and not yet pushed on) and spare block buffers, shared by
 * the gzip streams of one conversion that compresses several layers at once: together they keep
 * the cores as busy as one stream does, and hold as many blocks, not as many again per layer.
 */
export class GzipBlockBudget {
  /** Most blocks in flight across the streams sharing the budget. */
  readonly blocks: number;
  #inFlight = 0;
  /**
   * Writes waiting for a block to come back. All are resumed when one does: a stream destroyed
   * meanwhile cannot swallow the wake-up of the others, and each resumed write adds at most one
   * block before it checks again, so the streams hold at most one block each beyond the budget.
   */
  #waiting: Array<() => void> = [];
  readonly #spare: Buffer[] = [];

  constructor(blocks: number = availableParallelism() + 1) {
    if (!Number.isInteger(blocks) || blocks < 1) throw new RangeError(`blocksInFlight must be a positive integer, not ${blocks}`);
    this.blocks = blocks;
  }

  get full(): boolean {
    return this.#inFlight >= this.blocks;
  }

  /** Runs `resume` once a block in flight has come back. */
  whenFree(resume: () => void): void {
    this.#waiting.push(resume);
  }

  /** A buffer for a new block: a spare one when there is one. */
  takeBuffer(): Buffer {
    return this.#spare.pop() ?? Buffer.allocUnsafe(BLOCK_BYTES);
  }

  /** Counts a block dispatched. */
  dispatched(): void {
    this.#inFlight += 1;
  }

  /** Counts a block back (pushed on, or dropped); its buffer becomes a spare, up to one per block in flight. */
  returned(buffer: Buffer): void {
    this.#inFlight -= 1;
    if (this.#spare.length < this.blocks) this.#spare.push(buffer);
    if (this.full || this.#waiting.length === 0) return;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resume of waiting) resume();
  }
}

/** How the gzip stream is spread over the cores. */
export interface ReproducibleGzipOptions {
  /**
   * Blocks deflating at once, at least 1: the cores plus one by default, so a core never waits
   * for the main thread to hand it the next block. Does not change the output.
   */
  readonly blocksInFlight?: number | undefined;
  /** A budget shared with other streams instead (`blocksInFlight` is then not used). Does not change the output. */
  readonly budget?: GzipBlockBudget | undefined;
  /**
   * Sees every input byte once, in order, in blocks of up to 1 MiB, before they are compressed:
   * where the layer's diff_id is hashed, with no stage (and no per-chunk cost) of its own.
   */
  readonly onInput?: ((block: Buffer) => void) | undefined;
}

/**
 * A gzip stream at `level` 1–9. Level 0 is refused: stored blocks only make the layer bigger than
 * the tar, and every layer this registry builds is compressed.
 */
export function createReproducibleGzip(level: number, options: ReproducibleGzipOptions = {}): Transform {
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new RangeError(`gzip level must be an integer from 1 to 9, not ${level}`);
  }
  return new BlockGzip(level, options.budget ?? new GzipBlockBudget(options.blocksInFlight), options.onInput);
}

/** A block on its way through deflate; `output` is set once it is deflated. */
interface PendingBlock {
  readonly input: Buffer;
  output: Buffer | null;
}

class BlockGzip extends Transform {
  readonly #level: number;
  readonly #budget: GzipBlockBudget;
  readonly #onInput: ((block: Buffer) => void) | undefined;
  /** Blocks dispatched and not yet pushed, in stream order. */
  readonly #pending: PendingBlock[] = [];
  #block: Buffer | null = null;
  #filled = 0;
  #dictionary: Buffer | null = null;
  #crc = 0;
  #length = 0;
  #headerPushed = false;
  /** The write waiting for a block to finish before it is accepted. */
  #waitingWrite: TransformCallback | null = null;
  /** The end of the stream, waiting for the last blocks. */
  #waitingFlush: TransformCallback | null = null;

  constructor(level: number, budget: GzipBlockBudget, onInput: ((block: Buffer) => void) | undefined) {
    super();
    this.#level = level;
    this.#budget = budget;
    this.#onInput = onInput;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let offset = 0; offset < chunk.length; ) {
      const block = this.#currentBlock();
      const copied = chunk.copy(block, this.#filled, offset);
      this.#filled += copied;
      offset += copied;
      if (this.#filled === BLOCK_BYTES) this.#dispatch(false);
    }
    if (!this.#budget.full) {
      callback();
      return;
    }
    this.#waitingWrite = callback;
    this.#budget.whenFree(() => this.#resumeWrite());
  }

  override _flush(callback: TransformCallback): void {
    this.#dispatch(true);
    this.#waitingFlush = callback;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Blocks still deflating give their place in the budget back when they come back.
    for (const pending of this.#pending) if (pending.output !== null) this.#budget.returned(pending.input);
    this.#pending.length = 0;
    this.#block = null;
    this.#waitingWrite = null;
    callback(error);
  }

  #currentBlock(): Buffer {
    this.#block ??= this.#budget.takeBuffer();
    return this.#block;
  }

  #resumeWrite(): void {
    const callback = this.#waitingWrite;
    this.#waitingWrite = null;
    callback?.();
  }

  /** Sends the filled part of the current block to the thread pool; `last` finishes the stream. */
  #dispatch(last: boolean): void {
    const buffer = this.#currentBlock();
    const input = buffer.subarray(0, this.#filled);
    this.#block = null;
    this.#filled = 0;
    this.#onInput?.(input);
    this.#crc = crc32(input, this.#crc);
    this.#length += input.length;
    const dictionary = this.#dictionary;
    // A copy: the block's buffer is reused once it is deflated, while the next block may still be.
    this.#dictionary = last ? null : Buffer.from(input.subarray(input.length - WINDOW_BYTES));
    const pending: PendingBlock = { input: buffer, output: null };
    this.#pending.push(pending);
    this.#budget.dispatched();
    deflateRaw(
      input,
      {
        level: this.#level,
        memLevel: 8,
        windowBits: 15,
        strategy: constants.Z_DEFAULT_STRATEGY,
        chunkSize: BLOCK_BYTES,
        finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
        ...(dictionary === null ? {} : { dictionary }),
      },
      (error, output) => {
        if (this.destroyed || error) {
          this.#budget.returned(buffer);
          if (error && !this.destroyed) this.destroy(error);
          return;
        }
        pending.output = output;
        this.#pushReady();
      },
    );
  }

  /** Pushes the deflated blocks at the head of the queue, in order, then lets the stream go on. */
  #pushReady(): void {
    if (!this.#headerPushed) {
      this.push(gzipHeader(this.#level));
      this.#headerPushed = true;
    }
    while (this.#pending[0]?.output) {
      const done = this.#pending.shift() as PendingBlock;
      this.push(done.output);
      this.#budget.returned(done.input);
    }
    if (this.#pending.length === 0 && this.#waitingFlush !== null) {
      const callback = this.#waitingFlush;
      this.#waitingFlush = null;
      const trailer = Buffer.allocUnsafe(8);
      trailer.writeUInt32LE(this.#crc >>> 0, 0);
      trailer.writeUInt32LE(this.#length % 2 ** 32, 4);
      callback(null, trailer);
    }
  }
}

/** zlib's gzip header: no flags, mtime 0, its "extra flags" for the level, OS 3 (Unix). */
function gzipHeader(level: number): Buffer {
  const extraFlags = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extraFlags, 3]);
}
