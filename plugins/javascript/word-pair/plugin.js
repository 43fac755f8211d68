// word-pair in JavaScript: each word becomes the pair (word, 1).
//
// Written over the whole partition batch (`mapBatch`): it returns the
// output's key and value columns, with no record or BigInt per word.
export const signature = { input: "text", output: ["text", "int64"] };

export function mapBatch(words) {
  return [words, new BigInt64Array(words.length).fill(1n)];
}
