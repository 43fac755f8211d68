// word-pair in JavaScript: each word becomes the pair (word, 1).
export const signature = { input: "text", output: ["text", "int64"] };

export function map(word) {
  return [word, 1n];
}
