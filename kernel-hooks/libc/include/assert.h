/*
 * assert(cond): panics the kernel with the expression, file and line when
 * cond is false; compiles to nothing when NDEBUG is defined.  Like ISO C,
 * this header may be included again with a different NDEBUG.
 */
#undef assert
#ifdef NDEBUG
#define assert(cond) ((void)0)
#else
#include <uk/panic.h>
#define assert(cond)                                                                               \
    (__builtin_expect(!(cond), 0)                                                                  \
         ? uk_panic("assertion failed: %s at %s:%d (%s)", #cond, __FILE__, __LINE__, __func__)     \
         : (void)0)
#endif

#ifndef UK_LIBC_ASSERT_H
#define UK_LIBC_ASSERT_H
#define static_assert _Static_assert
#endif
