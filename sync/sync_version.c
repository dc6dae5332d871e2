/* sync_version.c - report the versions of curl and zlib for `agent --version`
 * (libcurl is loaded for it: see sync/http/http_curl.h). */
#include "sync_version.h"
#include "http_curl.h"

const char *sync_version_libs(void)
{
    return sync_curl_version();
}
