// sum in JavaScript: adds the int64 values of equal keys, of any key type.
export const signature = { input: "int64", output: "int64" };

export function reduce(a, b) {
  const total = a + b;
  if (total < -(2n ** 63n) || total >= 2n ** 63n) throw new Error("sum overflows int64");
  return total;
}
