// sum in C: adds the int64 values of equal keys, of any key type.
#include "sluice.h"

const sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_INT64},
                                           {SLUICE_NO_KEY, SLUICE_INT64}};

int sluice_reduce(const sluice_value *a, const sluice_value *b, sluice_value *out,
                  sluice_error *err) {
  if (__builtin_add_overflow(a->i, b->i, &out->i)) {
    return sluice_fail(err, "sum overflows int64");
  }
  return 0;
}
