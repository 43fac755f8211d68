// sessions in C: per user, the events of the current session; one last
// record when the session times out. (user, anything) in, (user, JSON) out.
#include <stdio.h>

#include "sluice.h"

const sluice_signature SLUICE_SIGNATURE = {{SLUICE_TEXT, SLUICE_INT64},
                                           {SLUICE_TEXT, SLUICE_JSON}};
const sluice_type SLUICE_STATE_TYPE = SLUICE_INT64;

int sluice_map_with_state(const sluice_value *key, const sluice_value *value,
                          sluice_state *state, sluice_record *out, sluice_error *err) {
  static char json[64];
  int64_t events = state->exists ? state->value.i : 0;
  if (value != NULL) {
    events += 1;
    state->value.i = events;
    state->exists = true;
  }
  int len = snprintf(json, sizeof json, "{\"events\": %lld, \"closed\": %s}", (long long)events,
                     value == NULL ? "true" : "false");
  if (len < 0 || (size_t)len >= sizeof json) return sluice_fail(err, "cannot format the record");
  out->key = *key;
  out->value.str = (sluice_str){(const uint8_t *)json, (size_t)len};
  return 0;
}
