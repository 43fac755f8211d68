/*
 * sluice_http.c: HTTP requests from a C (or Zig) sink plugin, over the
 * `wasi:http` bindings `wit-bindgen c` generates for the sink world, and the
 * byte buffer sinks build request bodies in. `sluice plugin build` compiles
 * it into sink plugins (`op = "sink"`).
 *
 * A sink reaches only the URLs its pipeline file grants; the host checks
 * every request before anything is sent, and a refused one fails the call
 * (see sluice.h).
 */
#include SLUICE_WORLD_HEADER

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* ---- byte buffers ---------------------------------------------------------- */

static int buf_reserve(sluice_buf *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t cap = b->cap > 0 ? b->cap : 64;
  while (cap < b->len + more) cap *= 2;
  uint8_t *p = realloc(b->ptr, cap);
  if (p == NULL) return -1;
  b->ptr = p;
  b->cap = cap;
  return 0;
}

int sluice_buf_push(sluice_buf *b, const void *bytes, size_t len) {
  if (len == 0) return 0;
  if (buf_reserve(b, len) != 0) return -1;
  memcpy(b->ptr + b->len, bytes, len);
  b->len += len;
  return 0;
}

int sluice_buf_push_cstr(sluice_buf *b, const char *text) {
  return sluice_buf_push(b, text, strlen(text));
}

int sluice_buf_push_str(sluice_buf *b, sluice_str text) {
  return sluice_buf_push(b, text.ptr, text.len);
}

int sluice_buf_push_i64(sluice_buf *b, int64_t value) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%lld", (long long)value);
  return sluice_buf_push(b, digits, (size_t)n);
}

int sluice_buf_push_json_string(sluice_buf *b, sluice_str text) {
  if (sluice_buf_push(b, "\"", 1) != 0) return -1;
  size_t start = 0;
  for (size_t i = 0; i < text.len; i++) {
    uint8_t c = text.ptr[i];
    if (c != '"' && c != '\\' && c >= 0x20) continue;
    if (sluice_buf_push(b, text.ptr + start, i - start) != 0) return -1;
    char escape[8];
    int n = c == '"'    ? snprintf(escape, sizeof escape, "\\\"")
            : c == '\\' ? snprintf(escape, sizeof escape, "\\\\")
                        : snprintf(escape, sizeof escape, "\\u%04x", c);
    if (sluice_buf_push(b, escape, (size_t)n) != 0) return -1;
    start = i + 1;
  }
  if (sluice_buf_push(b, text.ptr + start, text.len - start) != 0) return -1;
  return sluice_buf_push(b, "\"", 1);
}

const char *sluice_buf_cstr(sluice_buf *b) {
  if (buf_reserve(b, 1) != 0) return NULL;
  b->ptr[b->len] = '\0';
  return (const char *)b->ptr;
}

void sluice_buf_free(sluice_buf *b) {
  free(b->ptr);
  b->ptr = NULL;
  b->len = b->cap = 0;
}

char *sluice_str_dup(sluice_str s) {
  char *copy = malloc(s.len + 1);
  if (copy == NULL) return NULL;
  if (s.len > 0) memcpy(copy, s.ptr, s.len);
  copy[s.len] = '\0';
  return copy;
}

/* ---- requests -------------------------------------------------------------- */

/* The last request's error message (a guest runs one call at a time). */
static char message[1024];

static int failed(sluice_error *err, const char *method, const char *url, const char *what) {
  snprintf(message, sizeof message, "%s %s: %s", method, url, what);
  return sluice_fail(err, message);
}

static const char *describe_error(const wasi_http_types_error_code_t *e) {
  switch (e->tag) {
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_DENIED:
      return "refused by the host: the sink's `allow.http` does not grant this URL, or a limit was hit";
    case WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_REFUSED:
      return "connection refused";
    case WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_TIMEOUT:
      return "connection timed out";
    case WASI_HTTP_TYPES_ERROR_CODE_DNS_ERROR:
      return "the host name could not be resolved";
    default: {
      static char other[48];
      snprintf(other, sizeof other, "the request failed (wasi:http error code %u)", e->tag);
      return other;
    }
  }
}

static wasi_http_types_method_t method_of(const char *method) {
  static const char *names[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  wasi_http_types_method_t m;
  memset(&m, 0, sizeof m);
  for (uint8_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(method, names[i]) == 0) {
      m.tag = i;
      return m;
    }
  }
  m.tag = WASI_HTTP_TYPES_METHOD_OTHER;
  m.val.other.ptr = (uint8_t *)method;
  m.val.other.len = strlen(method);
  return m;
}

/* Splits `http://host:port/path?query`; 0, or -1 with a message. */
static int split_url(const char *url, wasi_http_types_scheme_t *scheme, sink_operator_string_t *authority,
                     sink_operator_string_t *path, const char **problem) {
  const char *rest;
  memset(scheme, 0, sizeof *scheme);
  if (strncmp(url, "http://", 7) == 0) {
    scheme->tag = WASI_HTTP_TYPES_SCHEME_HTTP;
    rest = url + 7;
  } else if (strncmp(url, "https://", 8) == 0) {
    scheme->tag = WASI_HTTP_TYPES_SCHEME_HTTPS;
    rest = url + 8;
  } else {
    *problem = "not an http:// or https:// URL";
    return -1;
  }
  size_t end = strcspn(rest, "/?");
  if (end == 0) {
    *problem = "the URL names no host";
    return -1;
  }
  authority->ptr = (uint8_t *)rest;
  authority->len = end;
  if (rest[end] == '\0') {
    path->ptr = (uint8_t *)"/";
    path->len = 1;
  } else {
    path->ptr = (uint8_t *)rest + end;
    path->len = strlen(rest + end);
  }
  return 0;
}

/* Builds the request's headers, Content-Length included. */
static bool make_fields(const sluice_http_header *headers, size_t count, size_t body_len,
                        wasi_http_types_own_fields_t *fields) {
  size_t n = count + (body_len > 0 ? 1 : 0);
  wasi_http_types_tuple2_field_name_field_value_t *entries =
      calloc(n > 0 ? n : 1, sizeof *entries);
  if (entries == NULL) return false;
  char length[24];
  for (size_t i = 0; i < count; i++) {
    entries[i].f0.ptr = (uint8_t *)headers[i].name;
    entries[i].f0.len = strlen(headers[i].name);
    entries[i].f1.ptr = (uint8_t *)headers[i].value;
    entries[i].f1.len = strlen(headers[i].value);
  }
  if (body_len > 0) {
    int digits = snprintf(length, sizeof length, "%zu", body_len);
    entries[count].f0.ptr = (uint8_t *)"content-length";
    entries[count].f0.len = strlen("content-length");
    entries[count].f1.ptr = (uint8_t *)length;
    entries[count].f1.len = (size_t)digits;
  }
  wasi_http_types_list_tuple2_field_name_field_value_t list = {entries, n};
  wasi_http_types_header_error_t header_error;
  bool ok = wasi_http_types_static_fields_from_list(&list, fields, &header_error);
  free(entries);
  return ok;
}

/* Writes the whole body, as much per write as the host takes. */
static bool write_body(wasi_http_types_borrow_outgoing_body_t body, const uint8_t *bytes, size_t len) {
  wasi_http_types_own_output_stream_t stream;
  if (!wasi_http_types_method_outgoing_body_write(body, &stream)) return false;
  wasi_io_streams_borrow_output_stream_t out = wasi_io_streams_borrow_output_stream(stream);
  wasi_io_streams_stream_error_t error;
  bool ok = true;
  while (ok && len > 0) {
    uint64_t permitted = 0;
    if (!wasi_io_streams_method_output_stream_check_write(out, &permitted, &error)) {
      ok = false;
      break;
    }
    if (permitted == 0) {
      wasi_io_poll_own_pollable_t ready = wasi_io_streams_method_output_stream_subscribe(out);
      wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
      wasi_io_poll_pollable_drop_own(ready);
      continue;
    }
    size_t n = len < permitted ? len : (size_t)permitted;
    sink_operator_list_u8_t chunk = {(uint8_t *)bytes, n};
    ok = wasi_io_streams_method_output_stream_write(out, &chunk, &error);
    bytes += n;
    len -= n;
  }
  if (ok) ok = wasi_io_streams_method_output_stream_blocking_flush(out, &error);
  if (!ok) wasi_io_streams_stream_error_free(&error);
  wasi_io_streams_output_stream_drop_own(stream);
  return ok;
}

/* Reads up to SLUICE_HTTP_MAX_RESPONSE_BYTES of the response's body. */
static bool read_body(wasi_http_types_borrow_incoming_response_t response, sluice_http_response *out) {
  wasi_http_types_own_incoming_body_t body;
  if (!wasi_http_types_method_incoming_response_consume(response, &body)) return false;
  wasi_http_types_own_input_stream_t stream;
  if (!wasi_http_types_method_incoming_body_stream(wasi_http_types_borrow_incoming_body(body), &stream)) {
    wasi_http_types_incoming_body_drop_own(body);
    return false;
  }
  wasi_io_streams_borrow_input_stream_t in = wasi_io_streams_borrow_input_stream(stream);
  sluice_buf received = {0};
  bool ok = true;
  while (received.len < SLUICE_HTTP_MAX_RESPONSE_BYTES) {
    size_t want = SLUICE_HTTP_MAX_RESPONSE_BYTES - received.len;
    if (want > 65536) want = 65536;
    sink_operator_list_u8_t chunk;
    wasi_io_streams_stream_error_t error;
    if (!wasi_io_streams_method_input_stream_blocking_read(in, want, &chunk, &error)) {
      ok = error.tag == WASI_IO_STREAMS_STREAM_ERROR_CLOSED;
      wasi_io_streams_stream_error_free(&error);
      break;
    }
    int pushed = sluice_buf_push(&received, chunk.ptr, chunk.len);
    sink_operator_list_u8_free(&chunk);
    if (pushed != 0) {
      ok = false;
      break;
    }
  }
  wasi_io_streams_input_stream_drop_own(stream);
  wasi_http_types_incoming_body_drop_own(body);
  out->body = received.ptr;
  out->body_len = received.len;
  if (!ok) sluice_http_response_free(out);
  return ok;
}

int sluice_http_send(const char *method, const char *url, const sluice_http_header *headers,
                     size_t header_count, const uint8_t *body, size_t body_len,
                     sluice_http_response *response, sluice_error *err) {
  memset(response, 0, sizeof *response);
  wasi_http_types_scheme_t scheme;
  sink_operator_string_t authority, path;
  const char *problem = NULL;
  if (split_url(url, &scheme, &authority, &path, &problem) != 0) {
    return failed(err, method, url, problem);
  }
  wasi_http_types_own_fields_t fields;
  if (!make_fields(headers, header_count, body_len, &fields)) {
    return failed(err, method, url, "a header name or value is not valid");
  }
  wasi_http_types_own_outgoing_request_t request = wasi_http_types_constructor_outgoing_request(fields);
  wasi_http_types_borrow_outgoing_request_t r = wasi_http_types_borrow_outgoing_request(request);
  wasi_http_types_method_t m = method_of(method);
  if (!wasi_http_types_method_outgoing_request_set_method(r, &m) ||
      !wasi_http_types_method_outgoing_request_set_scheme(r, &scheme) ||
      !wasi_http_types_method_outgoing_request_set_authority(r, &authority) ||
      !wasi_http_types_method_outgoing_request_set_path_with_query(r, &path)) {
    wasi_http_types_outgoing_request_drop_own(request);
    return failed(err, method, url, "the method, host or path is not valid");
  }
  wasi_http_types_own_outgoing_body_t outgoing;
  if (!wasi_http_types_method_outgoing_request_body(r, &outgoing)) {
    wasi_http_types_outgoing_request_drop_own(request);
    return failed(err, method, url, "the request has no body");
  }
  wasi_http_outgoing_handler_own_future_incoming_response_t pending;
  wasi_http_types_error_code_t error;
  if (!wasi_http_outgoing_handler_handle(request, NULL, &pending, &error)) {
    int status = failed(err, method, url, describe_error(&error));
    wasi_http_types_error_code_free(&error);
    wasi_http_types_outgoing_body_drop_own(outgoing);
    return status;
  }
  bool written = write_body(wasi_http_types_borrow_outgoing_body(outgoing), body, body_len);
  if (!wasi_http_types_static_outgoing_body_finish(outgoing, NULL, &error)) {
    int status = failed(err, method, url, describe_error(&error));
    wasi_http_types_error_code_free(&error);
    wasi_http_types_future_incoming_response_drop_own(pending);
    return status;
  }
  wasi_http_types_borrow_future_incoming_response_t p = wasi_http_types_borrow_future_incoming_response(pending);
  wasi_http_types_result_result_own_incoming_response_error_code_void_t result;
  while (!wasi_http_types_method_future_incoming_response_get(p, &result)) {
    wasi_io_poll_own_pollable_t ready = wasi_http_types_method_future_incoming_response_subscribe(p);
    wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
    wasi_io_poll_pollable_drop_own(ready);
  }
  wasi_http_types_future_incoming_response_drop_own(pending);
  if (result.is_err) return failed(err, method, url, "the response was taken twice");
  if (result.val.ok.is_err) {
    int status = failed(err, method, url, describe_error(&result.val.ok.val.err));
    wasi_http_types_error_code_free(&result.val.ok.val.err);
    return status;
  }
  if (!written) {
    wasi_http_types_incoming_response_drop_own(result.val.ok.val.ok);
    return failed(err, method, url, "writing the request body failed");
  }
  wasi_http_types_own_incoming_response_t incoming = result.val.ok.val.ok;
  wasi_http_types_borrow_incoming_response_t borrowed = wasi_http_types_borrow_incoming_response(incoming);
  response->status = wasi_http_types_method_incoming_response_status(borrowed);
  bool read = read_body(borrowed, response);
  wasi_http_types_incoming_response_drop_own(incoming);
  if (!read) return failed(err, method, url, "reading the response body failed");
  return 0;
}

int sluice_http_post(const char *url, const char *content_type, const uint8_t *body,
                     size_t body_len, sluice_http_response *response, sluice_error *err) {
  sluice_http_header header = {"content-type", content_type};
  return sluice_http_send("POST", url, &header, 1, body, body_len, response, err);
}

void sluice_http_response_free(sluice_http_response *response) {
  free(response->body);
  response->body = NULL;
  response->body_len = 0;
}
