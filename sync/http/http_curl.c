/* SPDX-License-Identifier: MIT */
/*
 * http_curl.c - load libcurl with dlopen at the first HTTP use (see
 * http_curl.h for why) and resolve the functions sync/http calls.
 */
#include "http_curl.h"

#include "plat_err.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct sync_curl_api sync_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc;
static int loaded;
static char load_msg[256];

/* One entry per member of struct sync_curl_api: where it goes, and the
 * name the library exports it under. */
#define CURL_FN(member, name) { (void **)&sync_curl.member, name }

static void load(void)
{
    /* ISO C has no conversion from void * to a function pointer; POSIX
     * dlsym needs one: the table is written through void ** slots. */
    const struct {
        void **slot;
        const char *name;
    } fns[] = {
        CURL_FN(global_init, "curl_global_init"),
        CURL_FN(global_cleanup, "curl_global_cleanup"),
        CURL_FN(version, "curl_version"),
        CURL_FN(easy_init, "curl_easy_init"),
        CURL_FN(easy_cleanup, "curl_easy_cleanup"),
        CURL_FN(easy_reset, "curl_easy_reset"),
        CURL_FN(easy_setopt, "curl_easy_setopt"),
        CURL_FN(easy_getinfo, "curl_easy_getinfo"),
        CURL_FN(easy_perform, "curl_easy_perform"),
        CURL_FN(easy_strerror, "curl_easy_strerror"),
        CURL_FN(share_init, "curl_share_init"),
        CURL_FN(share_setopt, "curl_share_setopt"),
        CURL_FN(share_cleanup, "curl_share_cleanup"),
        CURL_FN(slist_append, "curl_slist_append"),
        CURL_FN(slist_free_all, "curl_slist_free_all"),
        CURL_FN(free, "curl_free"),
        CURL_FN(url, "curl_url"),
        CURL_FN(url_cleanup, "curl_url_cleanup"),
        CURL_FN(url_get, "curl_url_get"),
        CURL_FN(url_set, "curl_url_set"),
    };
    void *lib = dlopen(SYNC_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *why;

    if (!lib) {
        why = dlerror();
        snprintf(load_msg, sizeof(load_msg), "cannot load " SYNC_CURL_SONAME
                 " (install the package libcurl4): %s", why ? why : "?");
        load_rc = ERR_GENERIC;
        return;
    }
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        *fns[i].slot = dlsym(lib, fns[i].name);
        if (!*fns[i].slot) {
            snprintf(load_msg, sizeof(load_msg), SYNC_CURL_SONAME " has no "
                     "%s: libcurl 7.88 or newer is needed", fns[i].name);
            memset(&sync_curl, 0, sizeof(sync_curl));
            dlclose(lib);
            load_rc = ERR_GENERIC;
            return;
        }
    }
    /* Never closed: curl and OpenSSL keep state for the process. */
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
    load_rc = PLAT_OK;
}

int sync_curl_load(void)
{
    pthread_once(&load_once, load);
    if (load_rc < 0)
        return plat_err_set(load_rc, "%s", load_msg);
    return PLAT_OK;
}

const char *sync_curl_version(void)
{
    pthread_once(&load_once, load);
    if (load_rc < 0)
        return "libcurl not loaded: " SYNC_CURL_SONAME " missing or too old";
    return sync_curl.version();
}

int sync_curl_loaded(void)
{
    return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
}
