// running-sum in JavaScript: keeps, per key, the sum of every value since
// the start (Spark's stateful word count); wraps around on int64 overflow
// like the Rust one.
export const signature = { input: "int64", output: "int64" };

export function updateState(values, state) {
  let total = state ?? 0n;
  for (const v of values) total += v;
  return BigInt.asIntN(64, total);
}
