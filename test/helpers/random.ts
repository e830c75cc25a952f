/** xorshift32: small, seedable, and the same sequence for the same seed everywhere. */
export function rng(seed: number): () => number {
  let x = (seed >>> 0) ^ 0x9e3779b9 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}
