// subtract in C: the inverse of sum for windows (`inverse_plugin`).
#include "sluice.h"

const sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_INT64},
                                           {SLUICE_NO_KEY, SLUICE_INT64}};

int sluice_inverse_reduce(const sluice_value *total, const sluice_value *leaving,
                          sluice_value *out, sluice_error *err) {
  if (__builtin_sub_overflow(total->i, leaving->i, &out->i)) {
    return sluice_fail(err, "difference overflows int64");
  }
  return 0;
}
