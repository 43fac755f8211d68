// min-length in JavaScript: keeps words of at least `min_length` characters
// (parameter, default 1).
export const signature = { input: "text", output: "text" };

let minLength = 1;

export function init(params) {
  for (const [name, value] of Object.entries(params)) {
    if (name !== "min_length") throw new Error("unknown parameter; this operator takes `min_length`");
    if (!/^[0-9]+$/.test(value)) throw new Error("`min_length` must be a number");
    minLength = Number(value);
  }
}

export function filter(word) {
  return [...word].length >= minLength;
}
