/*
 * fake_http.h - the scripted HTTP client of the fuzzers (fake_http.c):
 * sync_http.h's interface answered from a script instead of a network.
 */
#ifndef FUZZ_FAKE_HTTP_H
#define FUZZ_FAKE_HTTP_H

#include <stddef.h>

/* Answer the next requests from `data` (borrowed until the next call;
 * format in fake_http.c). An empty script: every request is unreachable. */
void fake_http_script(const char *data, size_t len);

/* Requests taken since the last fake_http_script. */
int fake_http_requests(void);

#endif
