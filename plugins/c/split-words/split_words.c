// split-words in C: each line's words, split at ASCII whitespace (as Rust's
// `split_whitespace` does for the ASCII corpus).
#include "sluice.h"

const sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_TEXT},
                                           {SLUICE_NO_KEY, SLUICE_TEXT}};

static int is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int sluice_flat_map(const sluice_record *in, sluice_emitter *out, sluice_error *err) {
  const uint8_t *s = in->value.str.ptr;
  size_t len = in->value.str.len, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || is_space(s[i])) {
      if (i > start) {
        sluice_record word = {{{0, 0}, 0, 0}, {{s + start, i - start}, 0, 0}};
        if (sluice_emit(out, &word) != 0) return sluice_fail(err, "out of memory");
      }
      start = i + 1;
    }
  }
  return 0;
}
