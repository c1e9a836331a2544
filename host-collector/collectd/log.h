/* ukcollectd's own log: one line per message on stderr (journald adds the time). */
#ifndef UKCOLLECTD_LOG_H
#define UKCOLLECTD_LOG_H

enum cd_level { CD_ERR = 3, CD_WARN = 4, CD_NOTICE = 5, CD_INFO = 6, CD_DEBUG = 7 };

/* "<N>ukcollectd: message" (sd-daemon level prefix), filtered by cd_log_level. */
void cd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern int cd_log_level;

#endif
