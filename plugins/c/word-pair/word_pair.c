// word-pair in C: each word becomes the pair (word, 1).
#include "sluice.h"

const sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_TEXT},
                                           {SLUICE_TEXT, SLUICE_INT64}};

int sluice_map(const sluice_record *in, sluice_record *out, sluice_error *err) {
  (void)err;
  out->key.str = in->value.str;
  out->value.i = 1;
  return 0;
}
