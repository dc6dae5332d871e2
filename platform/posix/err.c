/*
 * err.c - the thread-local error state behind plat_err.h.
 *
 * Each thread keeps the code and message of its last failure so that the
 * layer that finds a problem can describe it and the layer that reports it
 * can read it, without passing message buffers through every call.
 */
#include "plat_err.h"

#include <stdarg.h>
#include <stdio.h>

#define ERR_MSG_SIZE 512

static _Thread_local int err_code;
static _Thread_local char err_msg[ERR_MSG_SIZE];

int plat_err_set(int code, const char *fmt, ...)
{
    va_list ap;

    err_code = code;
    va_start(ap, fmt);
    /* A message longer than the buffer is cut short: one line is enough. */
    if (vsnprintf(err_msg, sizeof(err_msg), fmt, ap) < 0)
        err_msg[0] = '\0';
    va_end(ap);
    return code;
}

const char *plat_err_msg(void)
{
    return err_msg;
}

int plat_err_code(void)
{
    return err_code;
}

void plat_err_clear(void)
{
    err_code = PLAT_OK;
    err_msg[0] = '\0';
}

const char *plat_err_name(int code)
{
    switch (code) {
    case PLAT_OK:
        return "ok";
    case ERR_GENERIC:
        return "error";
    case ERR_NOMEM:
        return "out of memory";
    case ERR_NOTFOUND:
        return "not found";
    case ERR_EXISTS:
        return "already exists";
    case ERR_INVALID:
        return "invalid";
    case ERR_CONFIG:
        return "configuration error";
    case ERR_IO:
        return "I/O error";
    case ERR_CORRUPT:
        return "corrupt";
    case ERR_TOOLARGE:
        return "too large";
    case ERR_LOCKED:
        return "locked";
    case ERR_VERSION:
        return "newer version";
    case ERR_RETRY:
        return "try again later";
    case ERR_AUTH:
        return "not authorised";
    case ERR_CONFLICT:
        return "conflict";
    case ERR_USAGE:
        return "usage";
    default:
        return "unknown error";
    }
}
