/*
 * plat_err.h - the one error convention of the project.
 *
 * Every function that can fail returns an int: 0 (PLAT_OK) on success, or
 * one of the negative codes below. The code says what the caller can do
 * about it; the detail goes into a thread-local message set with
 * plat_err_set() at the place the failure was found, and read with
 * plat_err_msg() by whoever reports it (the CLI or the daemon). Lower layers
 * set the error and return; they never log it themselves ("report once").
 *
 * Messages never contain personal data (names, phone numbers, national ids):
 * name the field, the referenceId or the file instead.
 */
#ifndef PLAT_ERR_H
#define PLAT_ERR_H

enum plat_err {
    PLAT_OK = 0,
    ERR_GENERIC = -1,   /* anything not listed below                 */
    ERR_NOMEM = -2,     /* allocation failed                         */
    ERR_NOTFOUND = -3,  /* the thing asked for does not exist        */
    ERR_EXISTS = -4,    /* it exists already                         */
    ERR_INVALID = -5,   /* bad input: value, JSON, UTF-8, transition */
    ERR_CONFIG = -6,    /* bad configuration file or value           */
    ERR_IO = -7,        /* file system or database I/O failed        */
    ERR_CORRUPT = -8,   /* stored data is damaged                    */
    ERR_TOOLARGE = -9,  /* over a size cap                           */
    ERR_LOCKED = -10,   /* another process holds the lock            */
    ERR_VERSION = -11,  /* data written by a newer version           */
    ERR_RETRY = -12,    /* transient: offline, 5xx, 429, timeout     */
    ERR_AUTH = -13,     /* authentication or authorisation failed    */
    ERR_CONFLICT = -14, /* concurrent change detected                */
    ERR_USAGE = -15     /* bad command line                          */
};

/* Record the error of the current thread and return `code`, so that a
 * failure can be reported in one line: return plat_err_set(ERR_IO, ...). */
int plat_err_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The message of the last error set on this thread ("" if none). The
 * pointer is borrowed and valid until the next plat_err_set(). */
const char *plat_err_msg(void);

/* The code of the last error set on this thread (PLAT_OK if none). */
int plat_err_code(void);

/* Forget the last error (when a failure is handled and swallowed). */
void plat_err_clear(void);

/* A short fixed name for a code, e.g. "not found". */
const char *plat_err_name(int code);

#endif
