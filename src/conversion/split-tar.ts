/**
 * One tar archive in, several out: each entry of the input is routed to one output archive as it
 * streams, in one pass, bodies streamed through and never buffered whole. tar-stream's extract →
 * pack recipe, as in rewrite-tar.ts, with a pack per output. Back-pressure holds per output: an
 * entry is not started while the reader of its output is behind, and within an entry a slow
 * output pauses the input, so a slow layer holds up the whole droplet instead of piling it up in
 * memory; outputs whose readers keep up are not held by each other.
 */
import { Readable, Writable } from 'node:stream';
import tar, { type Header, type Pack } from 'tar-stream';
import { copyEntryBody, TarParseError, type EntryBody, type EntryBodyObserver, type EntryHeader } from './rewrite-tar.ts';

type EntrySink = ReturnType<Pack['entry']>;

/** One output archive: a Node `Readable` of tar bytes, fed by the split. */
export class TarOutput {
  /** The archive's bytes; ends once the split has seen all of its input. */
  readonly readable: Readable;
  readonly #pack = tar.pack();
  #readerBehind = false;
  #waitingEntry: (() => void) | null = null;

  constructor() {
    this.readable = new Readable({
      read: () => {
        this.#readerBehind = false;
        this.#pack.resume();
        const entry = this.#waitingEntry;
        this.#waitingEntry = null;
        entry?.();
      },
      destroy: (error, callback) => {
        this.#pack.destroy();
        callback(error);
      },
    });
    this.#pack.on('data', (chunk) => {
      if (!this.readable.push(chunk)) {
        this.#readerBehind = true;
        this.#pack.pause();
      }
    });
    this.#pack.on('end', () => this.readable.push(null));
    this.#pack.on('error', (error: Error) => this.readable.destroy(error));
  }

  /** Runs `start` now, or once the reader has caught up. */
  whenReady(start: () => void): void {
    if (this.#readerBehind) this.#waitingEntry = start;
    else start();
  }

  /** Starts an entry; `done` is called once it is written (with the error if it failed). */
  entry(header: EntryHeader, done: (error?: Error | null) => void): EntrySink {
    return this.#pack.entry(header, done);
  }

  /** Ends the archive once its entries are written. */
  finalize(): void {
    this.#pack.finalize();
  }
}

/** Where an entry goes: its output, its header there, and bodiless entries to write before it. */
export interface RoutedEntry {
  readonly output: TarOutput;
  readonly header: EntryHeader;
  /** Directory entries the output needs before this one. */
  readonly before: readonly EntryHeader[];
  /** Bodiless entries for other outputs, written before this one, each once its output's reader keeps up. */
  readonly copies?: readonly { readonly output: TarOutput; readonly header: EntryHeader }[];
}

/** Routes one input entry; `null` drops it (its body is skipped). Throwing fails the split. */
export type TarEntryRoute = (header: Header) => RoutedEntry | null;

/** Optional hooks into the split. */
export interface TarSplitOptions {
  /** Called with each routed entry's header (not those written before it); return an observer to see its body. */
  readonly observe?: (header: EntryHeader) => EntryBodyObserver | undefined;
  /** Called once every entry is through, before the outputs are ended: throwing fails the split. */
  readonly atEnd?: () => void;
}

/**
 * A writable taking tar bytes and writing each entry where `route` says. Every output it routed
 * to is finalized once the input has ended and `atEnd` passed; on failure the caller destroys the
 * outputs (the split does not own them).
 */
export function createTarSplit(route: TarEntryRoute, options: TarSplitOptions = {}): Writable {
  const extract = tar.extract();
  const used = new Set<TarOutput>();
  let entriesInProgress = 0;
  let finalizeWhenCopied: (() => void) | null = null;

  const split = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (extract.write(chunk)) callback();
      else extract.once('drain', () => callback());
    },
    final(callback) {
      extract.once('finish', () => {
        const finalize = (): void => {
          try {
            options.atEnd?.();
          } catch (error) {
            callback(error instanceof Error ? error : new Error(String(error)));
            return;
          }
          for (const output of used) output.finalize();
          callback();
        };
        if (entriesInProgress === 0) finalize();
        else finalizeWhenCopied = finalize;
      });
      extract.end(undefined);
    },
    destroy(error, callback) {
      extract.destroy();
      callback(error);
    },
  });

  const fail = (error: unknown): void => {
    split.destroy(error instanceof Error ? error : new Error(String(error)));
  };

  extract.on('error', (error: Error) => {
    if (!split.destroyed) fail(new TarParseError(error));
  });

  const copyEntry = ({ output, header, before }: RoutedEntry, body: EntryBody, next: () => void): void => {
    for (const directory of before) {
      const sink = output.entry(directory, (error) => error && fail(error));
      sink.on('error', fail);
      sink.end(undefined);
    }
    const sink = output.entry(header, (error) => (error ? fail(error) : next()));
    sink.on('error', fail);
    copyEntryBody(sink, header, body, options.observe);
  };

  extract.on('entry', (header, body, announce) => {
    entriesInProgress += 1;
    const next = (): void => {
      entriesInProgress -= 1;
      announce();
      if (entriesInProgress === 0 && finalizeWhenCopied !== null) {
        const finalize = finalizeWhenCopied;
        finalizeWhenCopied = null;
        finalize();
      }
    };
    let routed: RoutedEntry | null;
    try {
      routed = route(header);
    } catch (error) {
      fail(error);
      return;
    }
    body.on('error', fail);
    if (routed === null) {
      body.resume();
      next();
      return;
    }
    const entry = routed;
    used.add(entry.output);
    const copies = [...(entry.copies ?? [])];
    const writeCopies = (): void => {
      const copy = copies.shift();
      if (copy === undefined) {
        entry.output.whenReady(() => copyEntry(entry, body, next));
        return;
      }
      used.add(copy.output);
      copy.output.whenReady(() => {
        const sink = copy.output.entry(copy.header, (error) => (error ? fail(error) : writeCopies()));
        sink.on('error', fail);
        sink.end(undefined);
      });
    };
    writeCopies();
  });

  return split;
}
