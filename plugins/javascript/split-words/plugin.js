// split-words in JavaScript: each line's words, split at whitespace.
export const signature = { input: "text", output: "text" };

export function flatMap(line) {
  return line.split(/\s+/).filter((word) => word.length > 0);
}
