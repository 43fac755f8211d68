// split-words in JavaScript: each line's words, split at whitespace.
//
// Written over the whole partition batch (`flatMapBatch`): the lines are
// joined and split once, in C, instead of an interpreted call per line.
export const signature = { input: "text", output: "text" };

// Whitespace other than a space (QuickJS's `\s` is Unicode's, as Rust's).
const OTHER_SPACE = /[^\S ]/;

export function flatMapBatch(lines) {
  const text = lines.join(" ");
  // Words apart by spaces only, the usual case: a split at " " is a plain
  // search, where a regular expression is tried at every character.
  const words = OTHER_SPACE.test(text) ? text.split(/\s+/) : text.split(" ");
  // Runs of spaces, and spaces at either end, leave empty strings: looked
  // for first (a search in C), as a filter calls a function per word.
  return words.includes("") ? words.filter(Boolean) : words;
}
