// subtract in JavaScript: the inverse of sum for windows (`inverse_plugin`).
export const signature = { input: "int64", output: "int64" };

export function inverseReduce(total, leaving) {
  const difference = total - leaving;
  if (difference < -(2n ** 63n) || difference >= 2n ** 63n) throw new Error("difference overflows int64");
  return difference;
}
