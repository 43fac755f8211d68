// sum in JavaScript: adds the int64 values of equal keys, of any key type.
//
// Written over the whole partition batch (`reduceBatch`): each key's values
// come as a BigInt64Array, summed in one loop with no call per value.
export const signature = { input: "int64", output: "int64" };

export function reduceBatch(groups) {
  const totals = new Array(groups.length);
  for (let g = 0; g < groups.length; g++) {
    const values = groups[g];
    let total = 0n;
    for (let i = 0; i < values.length; i++) total += values[i];
    // A BigInt does not overflow: a total outside int64 fails the batch
    // when the SDK writes it.
    totals[g] = total;
  }
  return totals;
}
