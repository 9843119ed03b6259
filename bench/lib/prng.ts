/**
 * Deterministic randomness for generated droplets: a small counter-based PRNG (sfc32) for
 * choices, and an AES-128-CTR keystream for bulk "incompressible" bytes (GB/s, and the same bytes
 * for the same seed on every machine).
 */
import { createCipheriv, createHash, type Cipheriv } from 'node:crypto';

const ZEROS = Buffer.alloc(1 << 20);

export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  readonly #stream: Cipheriv;

  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest();
    this.#a = h.readUInt32LE(0);
    this.#b = h.readUInt32LE(4);
    this.#c = h.readUInt32LE(8);
    this.#d = h.readUInt32LE(12) | 1;
    this.#stream = createCipheriv('aes-128-ctr', h.subarray(16, 32), Buffer.alloc(16));
    for (let i = 0; i < 16; i += 1) this.next();
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** Log-uniform integer in [min, max]: many small values, a few large ones (file sizes). */
  logInt(min: number, max: number): number {
    return Math.round(Math.exp(Math.log(min) + this.float() * (Math.log(max) - Math.log(min))));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)] as T;
  }

  /** Zipf-like pick: index ~ n^u, so the first items come up far more often (word frequencies). */
  zipf<T>(items: readonly T[]): T {
    const index = Math.floor(Math.pow(items.length, this.float())) - 1;
    return items[Math.min(items.length - 1, index)] as T;
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  /** `n` pseudo-random bytes (keystream): incompressible. */
  bytes(n: number): Buffer {
    if (n <= ZEROS.length) return this.#stream.update(ZEROS.subarray(0, n));
    const parts: Buffer[] = [];
    for (let left = n; left > 0; left -= ZEROS.length) parts.push(this.#stream.update(ZEROS.subarray(0, Math.min(left, ZEROS.length))));
    return Buffer.concat(parts);
  }
}
