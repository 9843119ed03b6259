/**
 * What a source's answers may have stopped being true about, as its change feed reports it (for
 * Cloud Controller: its audit events). A cache of the source's answers drops what a change names.
 */
export type SourceChange =
  /** The app's current droplet changed (`cf push`, `cf set-droplet`, a rollback). */
  | { readonly kind: 'current-droplet'; readonly appGuid: string }
  /** The app was renamed, updated or deleted, or one of its droplets deleted. */
  | { readonly kind: 'app'; readonly appGuid: string }
  /** An org, space or app was created, renamed or deleted: any name may now lead elsewhere, or nowhere. */
  | { readonly kind: 'names' }
  /** More changed than the feed could read: nothing cached can be trusted. */
  | { readonly kind: 'everything' };

export interface SourceChangeFeed {
  /**
   * Reads the changes made since the last read, unless that read is recent enough, and tells the
   * listeners of each before it resolves; concurrent callers share one read. Rejects when the
   * changes cannot be read (the source is failing).
   */
  catchUp(): Promise<void>;
  onChange(listener: (change: SourceChange) => void): void;
}
