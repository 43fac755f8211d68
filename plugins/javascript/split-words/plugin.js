// split-words in JavaScript: each line's words, split at whitespace.
export const signature = { input: "text", output: "text" };

export function flatMap(line) {
  // One split in C; no callback per word (QuickJS interprets every call).
  const words = line.trim().split(/\s+/);
  return words[0] === "" ? [] : words;
}
