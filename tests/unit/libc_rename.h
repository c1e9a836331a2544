/*
 * Host-test renaming of the small libc (kernel-hooks/libc) so that it can be
 * linked next to glibc: every public name NAME becomes ukc_NAME.
 *
 * Passed with -include to every file of the unit test and fuzz builds (see
 * tests/unit/test_libc.mk).  No include guard on purpose: a file that also
 * needs glibc's own functions defines UKC_UNRENAME, includes this header to
 * drop the macros, includes the system headers, then includes it again
 * without UKC_UNRENAME to restore them.  Each name is #undef'd first so a
 * system header's own macro of the same name (e.g. glibc's ctype macros)
 * does not cause a redefinition error.
 */
#undef memcpy
#undef memmove
#undef memset
#undef memcmp
#undef memchr
#undef strlen
#undef strnlen
#undef strcmp
#undef strncmp
#undef strcpy
#undef strncpy
#undef strlcpy
#undef strcat
#undef strchr
#undef strrchr
#undef strstr
#undef strspn
#undef strcspn
#undef strcasecmp
#undef strncasecmp
#undef strtok_r
#undef snprintf
#undef vsnprintf
#undef strtoul
#undef strtol
#undef strtoull
#undef strtoll
#undef atoi
#undef abs
#undef labs
#undef qsort
#undef bsearch
#undef isdigit
#undef isxdigit
#undef isalpha
#undef isalnum
#undef isspace
#undef isupper
#undef islower
#undef isprint
#undef ispunct
#undef iscntrl
#undef toupper
#undef tolower
#ifndef UKC_UNRENAME
#define memcpy ukc_memcpy
#define memmove ukc_memmove
#define memset ukc_memset
#define memcmp ukc_memcmp
#define memchr ukc_memchr
#define strlen ukc_strlen
#define strnlen ukc_strnlen
#define strcmp ukc_strcmp
#define strncmp ukc_strncmp
#define strcpy ukc_strcpy
#define strncpy ukc_strncpy
#define strlcpy ukc_strlcpy
#define strcat ukc_strcat
#define strchr ukc_strchr
#define strrchr ukc_strrchr
#define strstr ukc_strstr
#define strspn ukc_strspn
#define strcspn ukc_strcspn
#define strcasecmp ukc_strcasecmp
#define strncasecmp ukc_strncasecmp
#define strtok_r ukc_strtok_r
#define snprintf ukc_snprintf
#define vsnprintf ukc_vsnprintf
#define strtoul ukc_strtoul
#define strtol ukc_strtol
#define strtoull ukc_strtoull
#define strtoll ukc_strtoll
#define atoi ukc_atoi
#define abs ukc_abs
#define labs ukc_labs
#define qsort ukc_qsort
#define bsearch ukc_bsearch
#define isdigit ukc_isdigit
#define isxdigit ukc_isxdigit
#define isalpha ukc_isalpha
#define isalnum ukc_isalnum
#define isspace ukc_isspace
#define isupper ukc_isupper
#define islower ukc_islower
#define isprint ukc_isprint
#define ispunct ukc_ispunct
#define iscntrl ukc_iscntrl
#define toupper ukc_toupper
#define tolower ukc_tolower
#endif
