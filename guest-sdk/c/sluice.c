/*
 * sluice.c: the bulk side of a C operator. It implements the exports of one
 * contract world (chosen by SLUICE_OP_MAP, SLUICE_OP_FLAT_MAP,
 * SLUICE_OP_FLAT_MAP_VALUES, SLUICE_OP_FILTER, SLUICE_OP_REDUCE, SLUICE_OP_INVERSE_REDUCE,
 * SLUICE_OP_UPDATE_STATE, SLUICE_OP_MAP_WITH_STATE or SLUICE_OP_SINK, with
 * SLUICE_WORLD_HEADER naming the header `wit-bindgen c` generated for it)
 * on top of the per-record functions declared in sluice.h. `sluice plugin
 * build` compiles it in (and, for a sink, sluice_http.c).
 */
#include SLUICE_WORLD_HEADER

#include <stdlib.h>
#include <string.h>

#include "sluice.h"

#if defined(SLUICE_OP_MAP)
#define SLUICE_EXPORT_(name) exports_sluice_operator_mapper_##name
#elif defined(SLUICE_OP_FLAT_MAP)
#define SLUICE_EXPORT_(name) exports_sluice_operator_flat_mapper_##name
#elif defined(SLUICE_OP_FLAT_MAP_VALUES)
#define SLUICE_EXPORT_(name) exports_sluice_operator_value_flat_mapper_##name
#elif defined(SLUICE_OP_FILTER)
#define SLUICE_EXPORT_(name) exports_sluice_operator_filter_##name
#elif defined(SLUICE_OP_REDUCE)
#define SLUICE_EXPORT_(name) exports_sluice_operator_reducer_##name
#elif defined(SLUICE_OP_INVERSE_REDUCE)
#define SLUICE_EXPORT_(name) exports_sluice_operator_inverse_reducer_##name
#elif defined(SLUICE_OP_UPDATE_STATE)
#define SLUICE_EXPORT_(name) exports_sluice_operator_state_updater_##name
#elif defined(SLUICE_OP_MAP_WITH_STATE)
#define SLUICE_EXPORT_(name) exports_sluice_operator_state_mapper_##name
#elif defined(SLUICE_OP_SINK)
#define SLUICE_EXPORT_(name) exports_sluice_operator_sink_##name
#else
#error "define one of SLUICE_OP_MAP, SLUICE_OP_FLAT_MAP, SLUICE_OP_FLAT_MAP_VALUES, SLUICE_OP_FILTER, SLUICE_OP_REDUCE, SLUICE_OP_INVERSE_REDUCE, SLUICE_OP_UPDATE_STATE, SLUICE_OP_MAP_WITH_STATE, SLUICE_OP_SINK"
#endif
/* One more level, so that a macro argument (SLUICE_ENTRY) is expanded. */
#define SLUICE_EXPORT(name) SLUICE_EXPORT_(name)

typedef sluice_operator_types_batch_t batch_t;
typedef sluice_operator_types_column_t column_t;
typedef sluice_operator_types_error_t error_t;

/* ---- errors ------------------------------------------------------------ */

/* Fills the contract's error from a message (copied) and a record index. */
static bool fail(error_t *err, const char *message, int64_t record) {
  if (message == NULL) message = "the operator failed without a message";
  size_t len = strlen(message);
  uint8_t *copy = malloc(len > 0 ? len : 1);
  if (copy != NULL) memcpy(copy, message, len);
  err->message.ptr = copy;
  err->message.len = copy != NULL ? len : 0;
  err->record_index.is_some = record >= 0;
  err->record_index.val = record >= 0 ? (uint32_t)record : 0;
  return false;
}

/* ---- describe and init --------------------------------------------------- */

static void record_type(sluice_record_type from, sluice_operator_types_record_type_t *to) {
  to->key.is_some = from.key != SLUICE_NO_KEY;
  to->key.val = from.key != SLUICE_NO_KEY ? (uint8_t)from.key : 0;
  to->value = (uint8_t)from.value;
}

#if defined(SLUICE_OP_SINK)
void SLUICE_EXPORT(describe)(sluice_operator_types_record_type_t *ret) {
  record_type(SLUICE_SINK_TYPE, ret);
}
#else
void SLUICE_EXPORT(describe)(sluice_operator_types_signature_t *ret) {
  record_type(SLUICE_SIGNATURE.input, &ret->input);
  record_type(SLUICE_SIGNATURE.output, &ret->output);
}
#endif

__attribute__((weak)) int sluice_init(const sluice_param *params, size_t count,
                                      sluice_error *err) {
  (void)params;
  if (count > 0) return sluice_fail(err, "this operator takes no parameters");
  return 0;
}

bool SLUICE_EXPORT(init)(SLUICE_EXPORT(list_param_t) *params, error_t *err) {
  sluice_param *copy = calloc(params->len > 0 ? params->len : 1, sizeof(sluice_param));
  if (copy == NULL) return fail(err, "out of memory", -1);
  for (size_t i = 0; i < params->len; i++) {
    copy[i].name = (sluice_str){params->ptr[i].name.ptr, params->ptr[i].name.len};
    copy[i].value = (sluice_str){params->ptr[i].value.ptr, params->ptr[i].value.len};
  }
  sluice_error user = {NULL};
  int status = sluice_init(copy, params->len, &user);
  free(copy);
  SLUICE_EXPORT(list_param_free)(params);
  return status == 0 ? true : fail(err, user.message, -1);
}

/* ---- reading columns ------------------------------------------------------- */

/* Offsets, numbers and flags travel as little-endian bytes (the contract's
 * u32-list, s64-list, f64-list and bool-list); wasm is little-endian, and
 * memcpy reads them whatever their alignment. */
static inline uint32_t u32_at(const uint8_t *bytes, size_t i) {
  uint32_t v;
  memcpy(&v, bytes + 4 * i, sizeof v);
  return v;
}

static inline int64_t i64_at(const uint8_t *bytes, size_t i) {
  int64_t v;
  memcpy(&v, bytes + 8 * i, sizeof v);
  return v;
}

static inline double f64_at(const uint8_t *bytes, size_t i) {
  double v;
  memcpy(&v, bytes + 8 * i, sizeof v);
  return v;
}

static size_t column_len(const column_t *c) {
  switch (c->tag) {
    case SLUICE_OPERATOR_TYPES_COLUMN_VARLEN:
      return c->val.varlen.offsets.len >= 4 ? c->val.varlen.offsets.len / 4 - 1 : 0;
    case SLUICE_OPERATOR_TYPES_COLUMN_INT64:
      return c->val.int64.len / 8;
    default:
      return c->val.float64.len / 8;
  }
}

static sluice_value value_at(const column_t *c, size_t i) {
  sluice_value v = {{NULL, 0}, 0, 0.0};
  switch (c->tag) {
    case SLUICE_OPERATOR_TYPES_COLUMN_VARLEN: {
      uint32_t start = u32_at(c->val.varlen.offsets.ptr, i);
      uint32_t end = u32_at(c->val.varlen.offsets.ptr, i + 1);
      v.str.ptr = c->val.varlen.data.ptr + start;
      v.str.len = end - start;
      break;
    }
    case SLUICE_OPERATOR_TYPES_COLUMN_INT64:
      v.i = i64_at(c->val.int64.ptr, i);
      break;
    default:
      v.f = f64_at(c->val.float64.ptr, i);
      break;
  }
  return v;
}

static sluice_record record_at(const batch_t *b, size_t i) {
  sluice_record r;
  r.key = b->keys.is_some ? value_at(&b->keys.val, i) : (sluice_value){{NULL, 0}, 0, 0.0};
  r.value = value_at(&b->values, i);
  return r;
}

/* ---- building columns -------------------------------------------------- */

/* A growing column of one value type. */
typedef struct {
  sluice_type type;
  uint8_t *data;
  size_t data_len, data_cap;
  uint32_t *offsets;
  int64_t *ints;
  double *floats;
  size_t len, cap;
} builder_t;

static bool is_varlen(sluice_type t) {
  return t != SLUICE_INT64 && t != SLUICE_FLOAT64;
}

static int builder_init(builder_t *b, sluice_type type, size_t values, size_t bytes) {
  memset(b, 0, sizeof(*b));
  b->type = type;
  b->cap = values > 0 ? values : 1;
  if (is_varlen(type)) {
    b->offsets = malloc((b->cap + 1) * sizeof(uint32_t));
    b->data_cap = bytes > 0 ? bytes : 16;
    b->data = malloc(b->data_cap);
    if (b->offsets == NULL || b->data == NULL) return -1;
    b->offsets[0] = 0;
  } else if (type == SLUICE_INT64) {
    b->ints = malloc(b->cap * sizeof(int64_t));
    if (b->ints == NULL) return -1;
  } else {
    b->floats = malloc(b->cap * sizeof(double));
    if (b->floats == NULL) return -1;
  }
  return 0;
}

static int builder_push(builder_t *b, const sluice_value *v) {
  if (b->len == b->cap) {
    size_t cap = b->cap * 2;
    if (is_varlen(b->type)) {
      uint32_t *o = realloc(b->offsets, (cap + 1) * sizeof(uint32_t));
      if (o == NULL) return -1;
      b->offsets = o;
    } else if (b->type == SLUICE_INT64) {
      int64_t *p = realloc(b->ints, cap * sizeof(int64_t));
      if (p == NULL) return -1;
      b->ints = p;
    } else {
      double *p = realloc(b->floats, cap * sizeof(double));
      if (p == NULL) return -1;
      b->floats = p;
    }
    b->cap = cap;
  }
  if (is_varlen(b->type)) {
    if (b->data_len + v->str.len > UINT32_MAX) return -1;
    if (b->data_len + v->str.len > b->data_cap) {
      size_t cap = b->data_cap * 2;
      while (cap < b->data_len + v->str.len) cap *= 2;
      uint8_t *d = realloc(b->data, cap);
      if (d == NULL) return -1;
      b->data = d;
      b->data_cap = cap;
    }
    if (v->str.len > 0) memcpy(b->data + b->data_len, v->str.ptr, v->str.len);
    b->data_len += v->str.len;
    b->offsets[b->len + 1] = (uint32_t)b->data_len;
  } else if (b->type == SLUICE_INT64) {
    b->ints[b->len] = v->i;
  } else {
    b->floats[b->len] = v->f;
  }
  b->len++;
  return 0;
}

/* Moves the builder's buffers into a contract column: an array of numbers
 * is already its little-endian bytes. */
static void builder_finish(builder_t *b, column_t *c) {
  if (is_varlen(b->type)) {
    c->tag = SLUICE_OPERATOR_TYPES_COLUMN_VARLEN;
    c->val.varlen.data.ptr = b->data;
    c->val.varlen.data.len = b->data_len;
    c->val.varlen.offsets.ptr = (uint8_t *)b->offsets;
    c->val.varlen.offsets.len = (b->len + 1) * sizeof(uint32_t);
  } else if (b->type == SLUICE_INT64) {
    c->tag = SLUICE_OPERATOR_TYPES_COLUMN_INT64;
    c->val.int64.ptr = (uint8_t *)b->ints;
    c->val.int64.len = b->len * sizeof(int64_t);
  } else {
    c->tag = SLUICE_OPERATOR_TYPES_COLUMN_FLOAT64;
    c->val.float64.ptr = (uint8_t *)b->floats;
    c->val.float64.len = b->len * sizeof(double);
  }
}

static void builder_free(builder_t *b) {
  free(b->data);
  free(b->offsets);
  free(b->ints);
  free(b->floats);
}

/* Output records: a value column, and a key column when keyed. */
struct sluice_emitter {
  bool keyed;
  builder_t keys, values;
};

static int emitter_init(sluice_emitter *e, sluice_record_type type, size_t records,
                        size_t bytes) {
  memset(e, 0, sizeof(*e));
  e->keyed = type.key != SLUICE_NO_KEY;
  if (e->keyed && builder_init(&e->keys, type.key, records, bytes) != 0) return -1;
  return builder_init(&e->values, type.value, records, bytes);
}

int sluice_emit(sluice_emitter *out, const sluice_record *record) {
  if (out->keyed && builder_push(&out->keys, &record->key) != 0) return -1;
  return builder_push(&out->values, &record->value);
}

static void emitter_finish(sluice_emitter *e, batch_t *ret) {
  ret->keys.is_some = e->keyed;
  if (e->keyed) builder_finish(&e->keys, &ret->keys.val);
  builder_finish(&e->values, &ret->values);
}

static void emitter_free(sluice_emitter *e) {
  if (e->keyed) builder_free(&e->keys);
  builder_free(&e->values);
}

static size_t input_bytes(const batch_t *b) {
  size_t n = 0;
  if (b->values.tag == SLUICE_OPERATOR_TYPES_COLUMN_VARLEN) n += b->values.val.varlen.data.len;
  if (b->keys.is_some && b->keys.val.tag == SLUICE_OPERATOR_TYPES_COLUMN_VARLEN)
    n += b->keys.val.val.varlen.data.len;
  return n;
}

/* ---- the entry points ------------------------------------------------------ */

#if defined(SLUICE_OP_MAP) || defined(SLUICE_OP_FLAT_MAP)

#if defined(SLUICE_OP_MAP)
#define SLUICE_ENTRY transform
#else
#define SLUICE_ENTRY expand
#endif

bool SLUICE_EXPORT(SLUICE_ENTRY)(batch_t *input, batch_t *ret, error_t *err) {
  size_t n = column_len(&input->values);
  sluice_emitter out;
  if (emitter_init(&out, SLUICE_SIGNATURE.output, n, input_bytes(input)) != 0) {
    emitter_free(&out);
    SLUICE_EXPORT(batch_free)(input);
    return fail(err, "out of memory", -1);
  }
  for (size_t i = 0; i < n; i++) {
    sluice_record in = record_at(input, i);
    sluice_error user = {NULL};
#if defined(SLUICE_OP_MAP)
    sluice_record result;
    memset(&result, 0, sizeof(result));
    int status = sluice_map(&in, &result, &user);
    if (status == 0 && sluice_emit(&out, &result) != 0) status = sluice_fail(&user, "out of memory");
#else
    int status = sluice_flat_map(&in, &out, &user);
#endif
    if (status != 0) {
      emitter_free(&out);
      bool failed = fail(err, user.message, (int64_t)i);
      SLUICE_EXPORT(batch_free)(input);
      return failed;
    }
  }
  emitter_finish(&out, ret);
  SLUICE_EXPORT(batch_free)(input);
  return true;
}

#elif defined(SLUICE_OP_FLAT_MAP_VALUES)

bool SLUICE_EXPORT(expand_values)(column_t *values, SLUICE_EXPORT(value_expansion_t) *ret,
                                  error_t *err) {
  size_t n = column_len(values);
  size_t bytes = values->tag == SLUICE_OPERATOR_TYPES_COLUMN_VARLEN ? values->val.varlen.data.len : 0;
  uint32_t *counts = malloc((n > 0 ? n : 1) * sizeof(uint32_t));
  sluice_emitter out;
  if (counts == NULL || emitter_init(&out, SLUICE_SIGNATURE.output, n, bytes) != 0) {
    free(counts);
    if (counts != NULL) emitter_free(&out);
    sluice_operator_types_column_free(values);
    return fail(err, "out of memory", -1);
  }
  for (size_t i = 0; i < n; i++) {
    sluice_value in = value_at(values, i);
    sluice_error user = {NULL};
    size_t before = out.values.len;
    int status = sluice_flat_map_values(&in, &out, &user);
    if (status != 0) {
      emitter_free(&out);
      free(counts);
      bool failed = fail(err, user.message, (int64_t)i);
      sluice_operator_types_column_free(values);
      return failed;
    }
    counts[i] = (uint32_t)(out.values.len - before);
  }
  builder_finish(&out.values, &ret->values);
  ret->counts.ptr = (uint8_t *)counts;
  ret->counts.len = n * sizeof(uint32_t);
  sluice_operator_types_column_free(values);
  return true;
}

#elif defined(SLUICE_OP_FILTER)

bool SLUICE_EXPORT(keep)(batch_t *input, SLUICE_EXPORT(bool_list_t) *ret, error_t *err) {
  size_t n = column_len(&input->values);
  uint8_t *flags = malloc(n > 0 ? n : 1);
  if (flags == NULL) {
    SLUICE_EXPORT(batch_free)(input);
    return fail(err, "out of memory", -1);
  }
  for (size_t i = 0; i < n; i++) {
    sluice_record in = record_at(input, i);
    sluice_error user = {NULL};
    bool keep = false;
    if (sluice_filter(&in, &keep, &user) != 0) {
      free(flags);
      bool failed = fail(err, user.message, (int64_t)i);
      SLUICE_EXPORT(batch_free)(input);
      return failed;
    }
    flags[i] = keep ? 1 : 0;
  }
  ret->ptr = flags;
  ret->len = n;
  SLUICE_EXPORT(batch_free)(input);
  return true;
}

#elif defined(SLUICE_OP_INVERSE_REDUCE)

bool SLUICE_EXPORT(uncombine)(column_t *totals, column_t *leaving, column_t *ret, error_t *err) {
  size_t n = column_len(totals);
  if (column_len(leaving) != n) {
    SLUICE_EXPORT(column_free)(totals);
    SLUICE_EXPORT(column_free)(leaving);
    return fail(err, "totals and leaving values differ in number", -1);
  }
  builder_t out;
  int status = builder_init(&out, SLUICE_SIGNATURE.output.value, n, 16);
  const char *failure = "out of memory";
  int64_t failed_at = -1;
  for (size_t i = 0; status == 0 && i < n; i++) {
    sluice_value total = value_at(totals, i), gone = value_at(leaving, i);
    sluice_value result = {{NULL, 0}, 0, 0.0};
    sluice_error user = {NULL};
    if (sluice_inverse_reduce(&total, &gone, &result, &user) != 0) {
      status = -1;
      failure = user.message;
      failed_at = (int64_t)i;
      break;
    }
    status = builder_push(&out, &result);
  }
  bool ok = status == 0;
  if (ok) {
    builder_finish(&out, ret);
  } else {
    builder_free(&out);
  }
  SLUICE_EXPORT(column_free)(totals);
  SLUICE_EXPORT(column_free)(leaving);
  return ok ? true : fail(err, failure, failed_at);
}

#elif defined(SLUICE_OP_UPDATE_STATE) || defined(SLUICE_OP_MAP_WITH_STATE)

typedef sluice_operator_types_state_batch_t state_batch_t;
typedef sluice_operator_types_state_update_t state_update_t;

/* Checks the shape the contract promises: one group boundary more than
 * keys, one flag per key. */
static bool state_batch_ok(const state_batch_t *b, size_t keys) {
  if (b->groups.len != 4 * (keys + 1) || b->has_state.len != keys ||
      column_len(&b->states) != keys)
    return false;
  if (u32_at(b->groups.ptr, 0) != 0 || u32_at(b->groups.ptr, keys) != column_len(&b->values))
    return false;
  for (size_t i = 0; i < keys; i++)
    if (u32_at(b->groups.ptr, i) > u32_at(b->groups.ptr, i + 1)) return false;
  return true;
}

/* Moves a builder of states and its keep flags (bytes 0 or 1) into the
 * contract's update. */
static void update_finish(builder_t *states, uint8_t *keep, size_t keys, state_update_t *ret) {
  builder_finish(states, &ret->states);
  ret->keep.ptr = keep;
  ret->keep.len = keys;
}

static const sluice_value PLACEHOLDER = {{NULL, 0}, 0, 0.0};

#if defined(SLUICE_OP_UPDATE_STATE)

bool SLUICE_EXPORT(update)(state_batch_t *input, state_update_t *ret, error_t *err) {
  size_t keys = column_len(&input->keys);
  if (!state_batch_ok(input, keys)) {
    SLUICE_EXPORT(state_batch_free)(input);
    return fail(err, "malformed state batch", -1);
  }
  builder_t states;
  uint8_t *keep = malloc(keys > 0 ? keys : 1);
  sluice_value *values = malloc((column_len(&input->values) + 1) * sizeof(sluice_value));
  int status = builder_init(&states, SLUICE_SIGNATURE.output.value, keys, 16);
  if (keep == NULL || values == NULL) status = -1;
  const char *failure = "out of memory";
  int64_t failed_at = -1;
  for (size_t i = 0; status == 0 && i < keys; i++) {
    uint32_t start = u32_at(input->groups.ptr, i), end = u32_at(input->groups.ptr, i + 1);
    for (uint32_t j = start; j < end; j++) values[j - start] = value_at(&input->values, j);
    sluice_value previous = value_at(&input->states, i);
    sluice_value next = PLACEHOLDER;
    bool kept = true;
    sluice_error user = {NULL};
    if (sluice_update_state(values, end - start, input->has_state.ptr[i] != 0 ? &previous : NULL,
                            &next, &kept, &user) != 0) {
      status = -1;
      failure = user.message;
      break;
    }
    keep[i] = kept ? 1 : 0;
    status = builder_push(&states, kept ? &next : &PLACEHOLDER);
  }
  free(values);
  if (status != 0) {
    builder_free(&states);
    free(keep);
    SLUICE_EXPORT(state_batch_free)(input);
    return fail(err, failure, failed_at);
  }
  update_finish(&states, keep, keys, ret);
  SLUICE_EXPORT(state_batch_free)(input);
  return true;
}

#else /* SLUICE_OP_MAP_WITH_STATE */

typedef sluice_operator_types_mapping_batch_t mapping_batch_t;
typedef sluice_operator_types_state_mapping_t state_mapping_t;

uint8_t SLUICE_EXPORT(state_type)(void) { return (uint8_t)SLUICE_STATE_TYPE; }

bool SLUICE_EXPORT(map_batch)(mapping_batch_t *input, state_mapping_t *ret, error_t *err) {
  state_batch_t *b = &input->state;
  size_t keys = column_len(&b->keys);
  if (!state_batch_ok(b, keys) || input->timing_out.len != keys) {
    SLUICE_EXPORT(mapping_batch_free)(input);
    return fail(err, "malformed mapping batch", -1);
  }
  size_t timing_out = 0;
  for (size_t i = 0; i < keys; i++) timing_out += input->timing_out.ptr[i] != 0;
  builder_t states;
  sluice_emitter out;
  memset(&states, 0, sizeof(states));
  memset(&out, 0, sizeof(out));
  uint8_t *keep = malloc(keys > 0 ? keys : 1);
  int status = builder_init(&states, SLUICE_STATE_TYPE, keys, 16);
  if (status == 0)
    status = emitter_init(&out, SLUICE_SIGNATURE.output, column_len(&b->values) + timing_out, 16);
  if (keep == NULL) status = -1;
  const char *failure = "out of memory";
  for (size_t i = 0; status == 0 && i < keys; i++) {
    sluice_value key = value_at(&b->keys, i);
    sluice_state state = {PLACEHOLDER, b->has_state.ptr[i] != 0, input->timing_out.ptr[i] != 0};
    if (state.exists) state.value = value_at(&b->states, i);
    uint32_t start = u32_at(b->groups.ptr, i), end = u32_at(b->groups.ptr, i + 1);
    /* A key timing out: one call with no value; else one per value. */
    uint32_t calls = state.timing_out ? 1 : end - start;
    for (uint32_t c = 0; status == 0 && c < calls; c++) {
      sluice_value value = state.timing_out ? PLACEHOLDER : value_at(&b->values, start + c);
      sluice_record mapped;
      memset(&mapped, 0, sizeof(mapped));
      sluice_error user = {NULL};
      if (sluice_map_with_state(&key, state.timing_out ? NULL : &value, &state, &mapped,
                                &user) != 0) {
        status = -1;
        failure = user.message;
        break;
      }
      status = sluice_emit(&out, &mapped);
    }
    keep[i] = state.exists && !state.timing_out;
    if (status == 0) status = builder_push(&states, keep[i] != 0 ? &state.value : &PLACEHOLDER);
  }
  if (status != 0) {
    builder_free(&states);
    emitter_free(&out);
    free(keep);
    SLUICE_EXPORT(mapping_batch_free)(input);
    return fail(err, failure, -1);
  }
  update_finish(&states, keep, keys, &ret->update);
  emitter_finish(&out, &ret->mapped);
  SLUICE_EXPORT(mapping_batch_free)(input);
  return true;
}

#endif

#elif defined(SLUICE_OP_SINK)

/* ---- sink -------------------------------------------------------------- */

bool SLUICE_EXPORT(write)(exports_sluice_operator_sink_sink_batch_t *info, batch_t *input,
                          error_t *err) {
  size_t n = column_len(&input->values);
  sluice_record *records = malloc((n > 0 ? n : 1) * sizeof(sluice_record));
  if (records == NULL) {
    exports_sluice_operator_sink_sink_batch_free(info);
    sluice_operator_types_batch_free(input);
    return fail(err, "out of memory", -1);
  }
  for (size_t i = 0; i < n; i++) records[i] = record_at(input, i);
  sluice_sink_batch batch = {
      {info->pipeline.ptr, info->pipeline.len},
      {info->sink.ptr, info->sink.len},
      info->batch_time_ms,
      info->partition,
      info->partitions,
      info->attempt,
  };
  sluice_error user = {NULL};
  int status = sluice_sink_write(&batch, records, n, &user);
  bool ok = status == 0 ? true : fail(err, user.message, -1);
  free(records);
  exports_sluice_operator_sink_sink_batch_free(info);
  sluice_operator_types_batch_free(input);
  return ok;
}

#else /* SLUICE_OP_REDUCE */

typedef sluice_operator_types_value_groups_t value_groups_t;

/* Folds each group of values (grouped by key by the host) with
 * sluice_reduce, in order: one value per group. */
bool SLUICE_EXPORT(combine)(value_groups_t *input, column_t *ret, error_t *err) {
  size_t n = column_len(&input->values);
  size_t groups = input->groups.len >= 4 ? input->groups.len / 4 - 1 : 0;
  const uint8_t *at = input->groups.ptr;
  bool well_formed = input->groups.len >= 4 && input->groups.len % 4 == 0 &&
                     u32_at(at, 0) == 0 && u32_at(at, groups) == n;
  for (size_t g = 0; well_formed && g < groups; g++)
    well_formed = u32_at(at, g) < u32_at(at, g + 1);
  if (!well_formed) {
    SLUICE_EXPORT(value_groups_free)(input);
    return fail(err, "malformed value groups", -1);
  }
  builder_t out;
  int status = builder_init(&out, SLUICE_SIGNATURE.output.value, groups, 16);
  const char *failure = "out of memory";
  int64_t failed_at = -1;
  for (size_t g = 0; status == 0 && g < groups; g++) {
    size_t start = u32_at(at, g), end = u32_at(at, g + 1);
    sluice_value acc = value_at(&input->values, start);
    for (size_t i = start + 1; i < end; i++) {
      sluice_value value = value_at(&input->values, i);
      sluice_value combined = {{NULL, 0}, 0, 0.0};
      sluice_error user = {NULL};
      if (sluice_reduce(&acc, &value, &combined, &user) != 0) {
        status = -1;
        failure = user.message;
        failed_at = (int64_t)i;
        break;
      }
      acc = combined;
    }
    if (status == 0) status = builder_push(&out, &acc);
  }
  bool ok = status == 0;
  if (ok) {
    builder_finish(&out, ret);
  } else {
    builder_free(&out);
  }
  SLUICE_EXPORT(value_groups_free)(input);
  return ok ? true : fail(err, failure, failed_at);
}

#endif
