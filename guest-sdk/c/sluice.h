/*
 * sluice.h: write a Sluice operator in C as one function per record.
 *
 * The contract (wit/operator.wit) passes whole partition batches in column
 * layout; sluice.c, compiled in by `sluice plugin build`, loops over the
 * batch, calls your function for each record, and builds the output columns.
 * You write:
 *
 *   - `SLUICE_SIGNATURE`: the record types your operator takes and gives;
 *   - one of `sluice_map`, `sluice_flat_map`, `sluice_flat_map_values`,
 *     `sluice_filter`,
 *     `sluice_reduce`, `sluice_inverse_reduce`, `sluice_update_state` or
 *     `sluice_map_with_state`, matching `op` in sluice-plugin.toml (and, for
 *     `map_with_state`, `SLUICE_STATE_TYPE`);
 *   - optionally `sluice_init`, to read the stream's `params`.
 *
 * A sink plugin (`op = "sink"`, for a `kind = "plugin"` sink) instead
 * defines `SLUICE_SINK_TYPE` and `sluice_sink_write`, which gets a whole
 * partition batch and sends it out with `sluice_http_post` or
 * `sluice_http_send` (only to the URLs the pipeline's `allow.http` grants).
 *
 * Strings given to you point into the input batch and are valid during the
 * call only. Strings you emit are copied. Return 0 for success; to fail the
 * batch, return `sluice_fail(err, "message")`, which blames the record.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The logical types of keys and values (the contract's `value-type`). */
typedef enum {
  SLUICE_TEXT = 0,
  SLUICE_BYTES = 1,
  SLUICE_INT64 = 2,
  SLUICE_FLOAT64 = 3,
  SLUICE_JSON = 4,
  /* No key: an unkeyed stream; for a reducer's input, any key type. */
  SLUICE_NO_KEY = 255
} sluice_type;

/* The shape of records: key type (or SLUICE_NO_KEY) and value type. */
typedef struct {
  sluice_type key;
  sluice_type value;
} sluice_record_type;

/* What the operator takes and gives. */
typedef struct {
  sluice_record_type input;
  sluice_record_type output;
} sluice_signature;

/* Bytes: text (UTF-8), bytes or JSON. Not NUL-terminated. */
typedef struct {
  const uint8_t *ptr;
  size_t len;
} sluice_str;

/* One key or value: `str` for text, bytes and JSON, `i` for int64, `f` for
 * float64. */
typedef struct {
  sluice_str str;
  int64_t i;
  double f;
} sluice_value;

/* One record; `key` is meaningful only in a keyed stream. */
typedef struct {
  sluice_value key;
  sluice_value value;
} sluice_record;

/* One `name = value` parameter from the pipeline file. */
typedef struct {
  sluice_str name;
  sluice_str value;
} sluice_param;

/* Where a failure's message goes. */
typedef struct {
  const char *message;
} sluice_error;

/* Where a flat_map's output records go. */
typedef struct sluice_emitter sluice_emitter;

/* Your operator's types: define it once, e.g.
 *   const sluice_signature SLUICE_SIGNATURE = {
 *       {SLUICE_NO_KEY, SLUICE_TEXT}, {SLUICE_TEXT, SLUICE_INT64}};      */
extern const sluice_signature SLUICE_SIGNATURE;

/* Optional: reads the parameters once per call, before the first record.
 * The default refuses any parameter. */
int sluice_init(const sluice_param *params, size_t count, sluice_error *err);

/* map: exactly one output record per input record. */
int sluice_map(const sluice_record *in, sluice_record *out, sluice_error *err);

/* flat_map: zero or more output records per input, through sluice_emit. */
int sluice_flat_map(const sluice_record *in, sluice_emitter *out, sluice_error *err);

/* flat_map_values: zero or more values per value of a keyed stream, through
 * sluice_emit (set the record's `value`; the host puts every output on the
 * key of the value it came from). SLUICE_SIGNATURE's types have no key. */
int sluice_flat_map_values(const sluice_value *in, sluice_emitter *out, sluice_error *err);

/* filter: sets *keep. */
int sluice_filter(const sluice_record *in, bool *keep, sluice_error *err);

/* reduce_by_key: combines two values of the same key into *out. Must be
 * associative and commutative. */
int sluice_reduce(const sluice_value *a, const sluice_value *b, sluice_value *out,
                  sluice_error *err);

/* inverse_reduce: *out = total minus leaving, undoing sluice_reduce, for a
 * window kept incrementally (`inverse_plugin`). */
int sluice_inverse_reduce(const sluice_value *total, const sluice_value *leaving,
                          sluice_value *out, sluice_error *err);

/* update_state_by_key: a key's new state from its `count` new values in
 * this batch (possibly none) and its previous state (`state` is NULL for a
 * key without one). Set *out to the new state, or *keep to false to remove
 * the key. SLUICE_SIGNATURE's output value type is the state type. */
int sluice_update_state(const sluice_value *values, size_t count, const sluice_value *state,
                        sluice_value *out, bool *keep, sluice_error *err);

/* A key's state in map_with_state: read `value` when `exists`, set both to
 * update it, clear `exists` to remove it. A string you set must stay valid
 * until the call returns for the key's last record (point into the input,
 * or into memory you keep). `timing_out` is set on the key's last call,
 * after which its state is removed whatever you set. */
typedef struct {
  sluice_value value;
  bool exists;
  bool timing_out;
} sluice_state;

/* map_with_state: called for each record of a key with new values, in
 * order (and once with `value` NULL for a key timing out); sets *out, the
 * mapped record. */
int sluice_map_with_state(const sluice_value *key, const sluice_value *value,
                          sluice_state *state, sluice_record *out, sluice_error *err);

/* map_with_state: the state's type, e.g.
 *   const sluice_type SLUICE_STATE_TYPE = SLUICE_INT64;                  */
extern const sluice_type SLUICE_STATE_TYPE;

/* Emits one record from a flat_map. Returns 0, or -1 when out of memory. */
int sluice_emit(sluice_emitter *out, const sluice_record *record);

/* Sets the message and returns -1, for `return sluice_fail(err, "...")`. */
static inline int sluice_fail(sluice_error *err, const char *message) {
  err->message = message;
  return -1;
}

/* ---- sinks (`op = "sink"`) ---------------------------------------------- */

/* Which batch and partition a sink's call holds. Delivery is at least once:
 * send `batch_time_ms` and `partition` along so a receiver can drop what it
 * already has. */
typedef struct {
  sluice_str pipeline;
  sluice_str sink;
  int64_t batch_time_ms;
  uint32_t partition;
  uint32_t partitions;
  /* 1 for the first call with this batch and partition, 2 for its first
   * retry, and so on. */
  uint32_t attempt;
} sluice_sink_batch;

/* The records your sink takes, e.g.
 *   const sluice_record_type SLUICE_SINK_TYPE = {SLUICE_TEXT, SLUICE_INT64}; */
extern const sluice_record_type SLUICE_SINK_TYPE;

/* sink: writes the `count` records of one partition batch. A failure is
 * handled by the sink's `on_error` (retried by default). */
int sluice_sink_write(const sluice_sink_batch *info, const sluice_record *records, size_t count,
                      sluice_error *err);

/* A growing byte buffer, for request bodies. The push functions return 0,
 * or -1 when out of memory. Zero-initialise it: `sluice_buf b = {0};`. */
typedef struct {
  uint8_t *ptr;
  size_t len;
  size_t cap;
} sluice_buf;

int sluice_buf_push(sluice_buf *b, const void *bytes, size_t len);
int sluice_buf_push_cstr(sluice_buf *b, const char *text);
int sluice_buf_push_str(sluice_buf *b, sluice_str text);
int sluice_buf_push_i64(sluice_buf *b, int64_t value);
/* Appends `text` as a JSON string literal (quotes, backslashes and control
 * characters escaped). */
int sluice_buf_push_json_string(sluice_buf *b, sluice_str text);
/* The contents, NUL-terminated (the NUL is not counted in `len`); NULL when
 * out of memory. */
const char *sluice_buf_cstr(sluice_buf *b);
void sluice_buf_free(sluice_buf *b);

/* A copy of `s`, NUL-terminated, from malloc (NULL when out of memory):
 * for keeping a parameter past `sluice_init`. */
char *sluice_str_dup(sluice_str s);

/* One request header. */
typedef struct {
  const char *name;
  const char *value;
} sluice_http_header;

/* What the receiver answered; free it with sluice_http_response_free. */
typedef struct {
  uint16_t status;
  uint8_t *body;
  size_t body_len;
} sluice_http_response;

/* The most of a response body that is read; the rest is dropped. */
#define SLUICE_HTTP_MAX_RESPONSE_BYTES (1u << 20)

/* Sends one request (`method` is "GET", "POST", …; Content-Length is set
 * from the body) and reads its response. Returns 0, or -1 with err set
 * when the URL is malformed, the host refuses it (not in the allowlist, or
 * over a limit: the call then fails whatever you return) or the request
 * fails. The message names the URL and stays valid until the next request. */
int sluice_http_send(const char *method, const char *url, const sluice_http_header *headers,
                     size_t header_count, const uint8_t *body, size_t body_len,
                     sluice_http_response *response, sluice_error *err);

/* POSTs `body` to `url` with the given Content-Type; as sluice_http_send. */
int sluice_http_post(const char *url, const char *content_type, const uint8_t *body,
                     size_t body_len, sluice_http_response *response, sluice_error *err);

void sluice_http_response_free(sluice_http_response *response);

/* Whether `s` equals the NUL-terminated `literal`. */
static inline bool sluice_str_eq(sluice_str s, const char *literal) {
  size_t i = 0;
  for (; literal[i] != '\0'; i++) {
    if (i >= s.len || s.ptr[i] != (uint8_t)literal[i]) return false;
  }
  return i == s.len;
}

/* A string literal as a sluice_str. */
#define SLUICE_STR(literal) \
  ((sluice_str){(const uint8_t *)(literal), sizeof(literal) - 1})

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_H */
