/*
 * plat_log.h - levelled logging to stderr or a file.
 *
 * One line per message: "2026-11-28T03:17:33.123Z warn  message". Logs name
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

void plat_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) plat_log(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) plat_log(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) plat_log(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) plat_log(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
