/**
 * A tar-to-tar rewriting stream: tar-stream's "modifying existing tarballs" recipe (extract → pack)
 * wrapped in one Node `Duplex`, so it sits in a `stream.pipeline` like any other stage. Bodies are
 * streamed through, never buffered whole, and back-pressure holds on both sides: an entry is not
 * started while the reader is behind, so even a flood of empty entries cannot pile up in memory.
 */
import { Duplex } from 'node:stream';
import tar, { type ExtractEvents, type Header, type Pack } from 'tar-stream';

/** A header as `pack.entry` takes it: tar-stream fills in what is left out. */
export type EntryHeader = Parameters<Pack['entry']>[0];

/** Rewrites one entry header; `null` drops the entry (its body is skipped). Throwing fails the stream. */
export type TarEntryRule = (header: Header) => EntryHeader | null;

export type EntryBody = ExtractEvents['entry'][1];

/**
 * Copies an entry's body into its sink in a pack: none for links and directories (whatever the
 * input claimed), a file's data with back-pressure, each chunk shown to `observe`'s observer.
 */
export function copyEntryBody(sink: ReturnType<Pack['entry']>, header: EntryHeader, body: EntryBody, observe: ((header: EntryHeader) => EntryBodyObserver | undefined) | undefined): void {
  if (header.type !== 'file') {
    sink.end(undefined);
    body.resume();
    return;
  }
  const observer = observe?.(header);
  body.on('data', (data) => {
    const chunk = data as Buffer;
    observer?.(chunk);
    if (!sink.write(chunk)) body.pause();
  });
  sink.on('drain', () => body.resume());
  body.on('end', () => sink.end(undefined));
}

/** Receives the body bytes of one emitted entry, chunk by chunk. */
export type EntryBodyObserver = (chunk: Buffer) => void;

/** Optional hooks into the rewrite. */
export interface TarRewriteOptions {
  /** Called with each emitted (rewritten) header; return an observer to see that entry's body. */
  readonly observe?: (header: EntryHeader) => EntryBodyObserver | undefined;
  /**
   * Called once every entry is through, before the archive is ended: throwing fails the stream,
   * so a check of the archive as a whole refuses it before anything downstream is committed.
   */
  readonly atEnd?: () => void;
}

/** Why the input is not a usable tar archive. */
export type TarParseFailure = 'truncated' | 'corrupt' | 'oversized-header';

/** The input stopped being a tar archive; callers turn this into an error naming their input. */
export class TarParseError extends Error {
  readonly reason: TarParseFailure;

  constructor(cause: Error) {
    const reason = tarParseFailure(cause.message);
    super(TAR_PARSE_MESSAGES[reason], { cause });
    this.name = 'TarParseError';
    this.reason = reason;
  }
}

const TAR_PARSE_MESSAGES: Record<TarParseFailure, string> = {
  truncated: 'the tar archive ends in the middle of an entry',
  corrupt: 'the tar archive has an invalid header',
  'oversized-header': 'the tar archive has an extended header over 4 MiB',
};

// tar-stream reports parse failures as plain Errors; these are its messages (extract.js).
function tarParseFailure(message: string): TarParseFailure {
  if (message === 'Unexpected end of data') return 'truncated';
  if (message === 'Header exceeds max size') return 'oversized-header';
  return 'corrupt';
}

/** Tar bytes in, tar bytes out, each entry's header passed through `rule`. */
export function createTarRewrite(rule: TarEntryRule, options: TarRewriteOptions = {}): Duplex {
  const extract = tar.extract();
  const pack = tar.pack();
  let readerBehind = false;
  let waitingEntry: (() => void) | null = null;
  // Entries extract announced and we have not finished copying: extract may finish (its input all
  // consumed) while the last of them still waits for the reader, and the pack must not end first.
  let entriesInProgress = 0;
  let finalizeWhenCopied: (() => void) | null = null;

  const rewrite = new Duplex({
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
          pack.finalize();
          callback();
        };
        if (entriesInProgress === 0) finalize();
        else finalizeWhenCopied = finalize;
      });
      extract.end(undefined);
    },
    read() {
      readerBehind = false;
      pack.resume();
      const entry = waitingEntry;
      waitingEntry = null;
      entry?.();
    },
    destroy(error, callback) {
      extract.destroy();
      pack.destroy();
      callback(error);
    },
  });

  const fail = (error: unknown): void => {
    rewrite.destroy(error instanceof Error ? error : new Error(String(error)));
  };

  pack.on('data', (chunk) => {
    if (!rewrite.push(chunk)) {
      readerBehind = true;
      pack.pause();
    }
  });
  pack.on('end', () => rewrite.push(null));
  pack.on('error', fail);
  extract.on('error', (error: Error) => {
    // Once we are destroyed, extract only echoes our own failure.
    if (!rewrite.destroyed) fail(new TarParseError(error));
  });

  const copyEntry = (header: EntryHeader, body: EntryBody, next: () => void): void => {
    const sink = pack.entry(header, (error) => (error ? fail(error) : next()));
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
    const start = (): void => {
      let rewritten: EntryHeader | null;
      try {
        rewritten = rule(header);
      } catch (error) {
        fail(error);
        return;
      }
      body.on('error', fail);
      if (rewritten === null) {
        // Dropped entries (directories in practice) only need their body skipped.
        body.resume();
        next();
        return;
      }
      copyEntry(rewritten, body, next);
    };
    if (readerBehind) waitingEntry = start;
    else start();
  });

  return rewrite;
}
