/*
 * Error numbers (Linux values) for code that wants them.  This libc keeps no
 * errno variable: its functions report failure through return values.
 */
#ifndef UK_LIBC_ERRNO_H
#define UK_LIBC_ERRNO_H

#define ENOENT 2
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY  16
#define EINVAL 22
#define ERANGE 34
#define ENOSYS 38

#endif
