/* sync_version.c - report the versions of curl and zlib for `agent --version`. */
#include "sync_version.h"

#include <curl/curl.h>

const char *sync_version_libs(void)
{
    return curl_version();
}
