/* SPDX-License-Identifier: MIT */
/*
 * http_curl.h - libcurl, loaded at the first HTTP use instead of linked.
 *
 * Why: libcurl's OpenSSL build pulls about 30 shared libraries (OpenSSL,
 * GnuTLS for LDAP, Kerberos, SASL, libssh2, ...). Linked, they are mapped
 * and partly touched by every run of the binary, and an idle daemon keeps
 * ~9 MB of their pages resident. Loaded with dlopen("libcurl.so.4") only
 * where a request is made (the daemon makes them in a child process), a
 * command or daemon that sends nothing never maps them.
 *
 * Include this instead of <curl/curl.h> (sync/http only): after it, the
 * curl_* calls this code uses go through the table `sync_curl` (each name
 * below is a macro), which sync_curl_load() fills. Every other curl_* name
 * is not available (it would fail to link: no -lcurl).
 *
 * The Debian package must name libcurl4 in Depends itself: dpkg-shlibdeps
 * does not see a library that is opened with dlopen.
 */
#ifndef SYNC_HTTP_CURL_H
#define SYNC_HTTP_CURL_H

#include <curl/curl.h>

/* The soname loaded; the one of Debian's libcurl4 (OpenSSL). */
#define SYNC_CURL_SONAME "libcurl.so.4"

struct sync_curl_api {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    char *(*version)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *curl);
    void (*easy_reset)(CURL *curl);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    CURLcode (*easy_perform)(CURL *curl);
    const char *(*easy_strerror)(CURLcode code);
    CURLSH *(*share_init)(void);
    CURLSHcode (*share_setopt)(CURLSH *share, CURLSHoption option, ...);
    CURLSHcode (*share_cleanup)(CURLSH *share);
    struct curl_slist *(*slist_append)(struct curl_slist *list,
                                       const char *s);
    void (*slist_free_all)(struct curl_slist *list);
    void (*free)(void *p);
    CURLU *(*url)(void);
    void (*url_cleanup)(CURLU *u);
    CURLUcode (*url_get)(const CURLU *u, CURLUPart what, char **part,
                         unsigned int flags);
    CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part,
                         unsigned int flags);
};

/* Filled by sync_curl_load(); read-only afterwards. */
extern struct sync_curl_api sync_curl;

/* Load libcurl and resolve every function above, once per process
 * (thread-safe; later calls return the first result at once). Returns
 * PLAT_OK, or ERR_GENERIC with one line naming the library or the missing
 * function ("cannot load libcurl.so.4 (install the package libcurl4): ...").
 * The library stays loaded until the process ends. */
int sync_curl_load(void);

/* curl_version() of the loaded library ("libcurl/7.88.1 OpenSSL/3.0.15
 * zlib/1.2.13 ..."), loading it first; when it cannot be loaded, a static
 * text saying so. For `agent --version`. */
const char *sync_curl_version(void);

/* 1 once libcurl has been loaded in this process (tests, the daemon's
 * check that its idle parent never loaded it). */
int sync_curl_loaded(void);

/* From here on the curl_* calls of sync/http go through the table. The
 * type-checking macros of curl/typecheck-gcc.h are replaced as well. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt
#define curl_global_init sync_curl.global_init
#define curl_global_cleanup sync_curl.global_cleanup
#define curl_easy_init sync_curl.easy_init
#define curl_easy_cleanup sync_curl.easy_cleanup
#define curl_easy_reset sync_curl.easy_reset
#define curl_easy_setopt sync_curl.easy_setopt
#define curl_easy_getinfo sync_curl.easy_getinfo
#define curl_easy_perform sync_curl.easy_perform
#define curl_easy_strerror sync_curl.easy_strerror
#define curl_share_init sync_curl.share_init
#define curl_share_setopt sync_curl.share_setopt
#define curl_share_cleanup sync_curl.share_cleanup
#define curl_slist_append sync_curl.slist_append
#define curl_slist_free_all sync_curl.slist_free_all
#define curl_free sync_curl.free
#define curl_url sync_curl.url
#define curl_url_cleanup sync_curl.url_cleanup
#define curl_url_get sync_curl.url_get
#define curl_url_set sync_curl.url_set

#endif
