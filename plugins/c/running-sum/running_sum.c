// running-sum in C: keeps, per key, the sum of every value since the start
// (Spark's stateful word count); wraps around on overflow as the Rust one.
#include "sluice.h"

const sluice_signature SLUICE_SIGNATURE = {{SLUICE_NO_KEY, SLUICE_INT64},
                                           {SLUICE_NO_KEY, SLUICE_INT64}};

int sluice_update_state(const sluice_value *values, size_t count, const sluice_value *state,
                        sluice_value *out, bool *keep, sluice_error *err) {
  (void)err;
  uint64_t sum = state != NULL ? (uint64_t)state->i : 0;
  for (size_t i = 0; i < count; i++) sum += (uint64_t)values[i].i;
  out->i = (int64_t)sum;
  *keep = true;
  return 0;
}
