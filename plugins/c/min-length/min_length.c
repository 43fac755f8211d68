// min-length in C: keeps words of at least `min_length` characters
// (parameter, default 1), counting UTF-8 characters.
#include "sluice.h"

const sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_TEXT},
                                           {SLUICE_NO_KEY, SLUICE_TEXT}};

static uint64_t min_length = 1;

int sluice_init(const sluice_param *params, size_t count, sluice_error *err) {
  for (size_t i = 0; i < count; i++) {
    if (!sluice_str_eq(params[i].name, "min_length")) {
      return sluice_fail(err, "unknown parameter; this operator takes `min_length`");
    }
    sluice_str v = params[i].value;
    if (v.len == 0 || v.len > 18) return sluice_fail(err, "`min_length` must be a number");
    uint64_t n = 0;
    for (size_t j = 0; j < v.len; j++) {
      if (v.ptr[j] < '0' || v.ptr[j] > '9') {
        return sluice_fail(err, "`min_length` must be a number");
      }
      n = n * 10 + (uint64_t)(v.ptr[j] - '0');
    }
    min_length = n;
  }
  return 0;
}

int sluice_filter(const sluice_record *in, bool *keep, sluice_error *err) {
  (void)err;
  uint64_t chars = 0;
  for (size_t i = 0; i < in->value.str.len; i++) {
    if ((in->value.str.ptr[i] & 0xC0) != 0x80) chars++;
  }
  *keep = chars >= min_length;
  return 0;
}
