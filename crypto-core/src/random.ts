// All random values come from crypto.getRandomValues (format §1). Tests and the format-vector
// generator may inject a seeded source through `internal.ts`; production code never does.
export type RandomSource = (length: number) => Uint8Array;

let injected: RandomSource | null = null;

export function setRandomSource(source: RandomSource | null): void {
  injected = source;
}

export function randomBytes(length: number): Uint8Array {
  if (injected) return injected(length);
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let at = 0; at < length; at += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  }
  return out;
}
