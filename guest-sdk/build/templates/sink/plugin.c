#include <stdio.h>
#include <stdlib.h>

#include "sluice.h"

const sluice_record_type SLUICE_SINK_TYPE = {SLUICE_TEXT, SLUICE_INT64};

static char *url;

int sluice_init(const sluice_param *params, size_t count, sluice_error *err) {
  for (size_t i = 0; i < count; i++) {
    if (sluice_str_eq(params[i].name, "url")) {
      free(url);
      url = sluice_str_dup(params[i].value);
    }
  }
  if (url == NULL) return sluice_fail(err, "`url` is required: where to POST the records");
  return 0;
}

/* POSTs the records, one {"key": …, "value": …} line each, to `url` with the
 * batch time and partition in the query, so that the receiver can drop a
 * partition it already has (delivery is at least once). */
int sluice_sink_write(const sluice_sink_batch *info, const sluice_record *records, size_t count,
                      sluice_error *err) {
  sluice_buf body = {0}, target = {0};
  int failed = 0;
  for (size_t i = 0; i < count; i++) {
    failed |= sluice_buf_push_cstr(&body, "{\"key\":");
    failed |= sluice_buf_push_json_string(&body, records[i].key.str);
    failed |= sluice_buf_push_cstr(&body, ",\"value\":");
    failed |= sluice_buf_push_i64(&body, records[i].value.i);
    failed |= sluice_buf_push_cstr(&body, "}\n");
  }
  failed |= sluice_buf_push_cstr(&target, url);
  failed |= sluice_buf_push_cstr(&target, "?batch=");
  failed |= sluice_buf_push_i64(&target, info->batch_time_ms);
  failed |= sluice_buf_push_cstr(&target, "&partition=");
  failed |= sluice_buf_push_i64(&target, info->partition);
  const char *to = sluice_buf_cstr(&target);
  int status = 0;
  if (failed != 0 || to == NULL) {
    status = sluice_fail(err, "out of memory");
  } else {
    sluice_http_response response;
    status = sluice_http_post(to, "application/x-ndjson", body.ptr, body.len, &response, err);
    if (status == 0) {
      if (response.status < 200 || response.status >= 300) {
        static char message[1024];
        snprintf(message, sizeof message, "%s answered %u", to, (unsigned)response.status);
        status = sluice_fail(err, message);
      }
      sluice_http_response_free(&response);
    }
  }
  sluice_buf_free(&body);
  sluice_buf_free(&target);
  return status;
}
