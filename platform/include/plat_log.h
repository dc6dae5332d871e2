/*
 * plat_log.h - levelled logging to stderr or a file.
 *
 * One line per message: "2026-11-28T03:17:33.123Z warn  message" (a
 * person's terminal gets "warning: message", see plat_log_set_style). Logs name
 * referenceIds, never personal data. The log file is opened in append mode
 * and can be reopened (plat_log_reopen) after a rotation.
 */
#ifndef PLAT_LOG_H
#define PLAT_LOG_H

enum plat_log_level {
    LOG_LVL_ERROR = 0,
    LOG_LVL_WARN = 1,
    LOG_LVL_INFO = 2,
    LOG_LVL_DEBUG = 3
};

/* Parse "error", "warn", "info", "debug"; returns -1 for anything else. */
int plat_log_level_parse(const char *name);
const char *plat_log_level_name(int level);

void plat_log_set_level(int level);
int plat_log_get_level(void);

/* Log to `path` (append) instead of stderr; NULL goes back to stderr.
 * Returns ERR_IO if the file cannot be opened (logging stays as it was). */
int plat_log_set_file(const char *path);
int plat_log_reopen(void);

/* How lines look on stderr (a log file always gets the ISO form):
 * human = 1 for a person at a terminal: no timestamp, "warning: " and
 * "error: " prefixes, info lines bare; colour = 1 adds ANSI colour to those
 * prefixes (the caller decides: a tty, and NO_COLOR unset). */
void plat_log_set_style(int human, int colour);

/* Around each line written to stderr (not to a log file): `before` runs
 * first (e.g. clears a status line), `after` once the line is out (redraws
 * it). NULL hooks: none. The hooks must not log. */
void plat_log_set_hooks(void (*before)(void *), void (*after)(void *),
                        void *payload);

/* 1 while lines go to stderr (no log file). */
int plat_log_to_stderr(void);

void plat_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) plat_log(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) plat_log(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) plat_log(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) plat_log(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
