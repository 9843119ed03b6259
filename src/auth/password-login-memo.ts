/**
 * Password logins UAA confirmed a moment ago, remembered so that a fleet pulling with one user's
 * credentials (docker and Kubernetes send them with every pull) costs UAA one password grant per
 * period, not one per pull; a real UAA checks each password with bcrypt.
 *
 * @remarks
 * Only a salted HMAC of the password is kept, under a key made at start-up that never leaves this
 * process's memory: nothing here is logged, stored or comparable across instances. An entry lasts
 * `ttlMs`, never past the UAA token it holds (Cloud Controller is asked with that token); a failed
 * login for the user drops it at once, so a changed password stops working here at the next wrong
 * attempt or after `ttlMs`. While UAA fails, an entry is still good until its token expires
 * (stale-if-error), within `staleIfErrorMs`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LruMap } from '../util/lru-map.ts';
import { SingleFlight } from '../util/single-flight.ts';
import type { UaaIdentity } from './uaa-identity.ts';

export interface PasswordLoginMemoOptions {
  readonly ttlMs: number;
  readonly staleIfErrorMs: number;
  /** Users remembered at most (the least recently seen go first). */
  readonly maxEntries?: number;
  /** Milliseconds since the epoch; tests move it. */
  readonly now?: () => number;
}

interface Remembered {
  readonly salt: Buffer;
  readonly digest: Buffer;
  readonly identity: UaaIdentity;
  readonly storedAt: number;
}

/** A UAA token is not used for Cloud Controller calls within this much of its expiry. */
const TOKEN_EXPIRY_MARGIN_MS = 30_000;
const DEFAULT_MAX_ENTRIES = 10_000;
const FLIGHT_SALT = Buffer.from('in-flight');

export class PasswordLoginMemo {
  readonly #options: PasswordLoginMemoOptions;
  readonly #key = randomBytes(32);
  readonly #entries: LruMap<string, Remembered>;
  /** Logins of one username and password under way, keyed by their HMAC: a burst of them costs UAA one grant. */
  readonly #inFlight = new SingleFlight<UaaIdentity>();

  constructor(options: PasswordLoginMemoOptions) {
    this.#options = options;
    this.#entries = new LruMap(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  }

  /** The identity of this username and password if UAA confirmed them within the TTL. */
  recall(username: string, password: string): UaaIdentity | undefined {
    return this.#match(username, password, this.#options.ttlMs);
  }

  /** As `recall`, for when UAA fails: good for `staleIfErrorMs` more, never past the token's expiry. */
  recallStale(username: string, password: string): UaaIdentity | undefined {
    return this.#match(username, password, this.#options.ttlMs + this.#options.staleIfErrorMs);
  }

  /** `login()` once for concurrent callers with the same username and password, remembering what it returns. */
  loginOnce(username: string, password: string, login: () => Promise<UaaIdentity>): Promise<UaaIdentity> {
    const key = `${username}\n${this.#digest(FLIGHT_SALT, password).toString('base64')}`;
    return this.#inFlight.run(key, async () => {
      const identity = await login();
      this.remember(username, password, identity);
      return identity;
    });
  }

  remember(username: string, password: string, identity: UaaIdentity): void {
    if (this.#options.ttlMs === 0) return;
    const salt = randomBytes(16);
    this.#entries.set(username, { salt, digest: this.#digest(salt, password), identity, storedAt: this.#now() });
  }

  /** A failed login for this username: whatever was remembered for it goes. */
  forget(username: string): void {
    this.#entries.delete(username);
  }

  #match(username: string, password: string, maxAgeMs: number): UaaIdentity | undefined {
    const entry = this.#entries.get(username);
    if (!entry) return undefined;
    const now = this.#now();
    const tokenUsable = entry.identity.expiresAtMs === undefined || now < entry.identity.expiresAtMs - TOKEN_EXPIRY_MARGIN_MS;
    if (now - entry.storedAt >= maxAgeMs || !tokenUsable) return undefined;
    return timingSafeEqual(entry.digest, this.#digest(entry.salt, password)) ? entry.identity : undefined;
  }

  #digest(salt: Buffer, password: string): Buffer {
    return createHmac('sha256', this.#key).update(salt).update(password, 'utf8').digest();
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}
