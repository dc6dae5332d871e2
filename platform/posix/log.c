/*
 * log.c - levelled log lines to stderr or an append-mode file.
 *
 * Each line is built in a stack buffer and written with one write(): with
 * O_APPEND the kernel places it at the end in one piece, so the CLI and the
 * daemon can share a log file without interleaving parts of lines. Logging
 * never allocates, so it works when memory is short and does not disturb
 * the allocation-failure test hook.
 */
#include "plat_log.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_FILE_MODE 0640

static int log_level = LOG_LVL_INFO;
static int log_fd = STDERR_FILENO;
static char *log_path; /* NULL while logging to stderr */

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static int log_human, log_colour;
static void (*hook_before)(void *), (*hook_after)(void *);
static void *hook_payload;

void plat_log_set_style(int human, int colour)
{
    log_human = human;
    log_colour = human && colour;
}

void plat_log_set_hooks(void (*before)(void *), void (*after)(void *),
                        void *payload)
{
    hook_before = before;
    hook_after = after;
    hook_payload = payload;
}

int plat_log_to_stderr(void)
{
    return log_fd == STDERR_FILENO;
}

/* The head of a line for a person: "error: " in red, "warning: " in
 * yellow, nothing for info. */
static const char *human_head(int level)
{
    static const char *const plain[] = { "error: ", "warning: ", "",
                                         "debug: " };
    static const char *const coloured[] = { "\033[1;31merror:\033[0m ",
                                            "\033[1;33mwarning:\033[0m ", "",
                                            "\033[2mdebug:\033[0m " };

    if (level < LOG_LVL_ERROR || level > LOG_LVL_DEBUG)
        return "";
    return log_colour ? coloured[level] : plain[level];
}

int plat_log_level_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i <= LOG_LVL_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *plat_log_level_name(int level)
{
    if (level < LOG_LVL_ERROR || level > LOG_LVL_DEBUG)
        return "?";
    return level_names[level];
}

void plat_log_set_level(int level)
{
    if (level < LOG_LVL_ERROR)
        level = LOG_LVL_ERROR;
    if (level > LOG_LVL_DEBUG)
        level = LOG_LVL_DEBUG;
    log_level = level;
}

int plat_log_get_level(void)
{
    return log_level;
}

static int open_log(const char *path, int *fd_out)
{
    /* O_NOFOLLOW: never append to whatever a planted link points at. */
    int fd = open(path,
                  O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                  LOG_FILE_MODE);

    if (fd < 0)
        return plat_err_set(ERR_IO, "cannot open log file %s: %s", path,
                            strerror(errno));
    *fd_out = fd;
    return PLAT_OK;
}

/* Switch to `fd` (and `path`, already owned), closing the previous file. */
static void use_fd(int fd, char *path)
{
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    if (path != log_path) {
        plat_free(log_path);
        log_path = path;
    }
}

int plat_log_set_file(const char *path)
{
    char *copy;
    int fd = -1, rc;

    if (!path) {
        use_fd(STDERR_FILENO, NULL);
        return PLAT_OK;
    }
    copy = plat_strdup(path);
    if (!copy)
        return ERR_NOMEM;
    rc = open_log(copy, &fd);
    if (rc < 0) {
        plat_free(copy);
        return rc;
    }
    use_fd(fd, copy);
    return PLAT_OK;
}

int plat_log_reopen(void)
{
    int fd = -1, rc;

    if (!log_path)
        return PLAT_OK;
    /* Open the new file first so a failure keeps the old one in use. */
    rc = open_log(log_path, &fd);
    if (rc < 0)
        return rc;
    use_fd(fd, log_path);
    return PLAT_OK;
}

void plat_log(int level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    char stamp[PLAT_ISO_LEN];
    va_list ap;
    size_t len, head;
    int n, saved_errno = errno;

    if (level > log_level)
        return;
    if (log_human && log_fd == STDERR_FILENO) {
        n = snprintf(line, sizeof(line), "%s", human_head(level));
    } else {
        plat_time_iso(plat_time_wall_ms(), stamp);
        n = snprintf(line, sizeof(line), "%s %-5s ", stamp,
                     plat_log_level_name(level));
    }
    head = n < 0 ? 0 : (size_t)n;
    va_start(ap, fmt);
    n = vsnprintf(line + head, sizeof(line) - head, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    len = head + (size_t)n;
    if (len > sizeof(line) - 2) {
        /* Cut long messages and say so, keeping room for the newline. */
        len = sizeof(line) - 2;
        memcpy(line + len - 3, "...", 3);
    }
    /* One message is one line: a newline inside would forge a new entry. */
    for (size_t i = head; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    line[len++] = '\n';
    if (log_fd == STDERR_FILENO && hook_before)
        hook_before(hook_payload);
    while (write(log_fd, line, len) < 0 && errno == EINTR)
        ;
    if (log_fd == STDERR_FILENO && hook_after)
        hook_after(hook_payload);
    errno = saved_errno;
}
