/* sync_version.h - versions of the libraries the sync layer links. */
#ifndef SYNC_VERSION_H
#define SYNC_VERSION_H
/* "libcurl/7.88.1 zlib/1.2.13 ..." (static string). */
const char *sync_version_libs(void);
#endif
