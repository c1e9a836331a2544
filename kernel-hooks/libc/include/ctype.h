/*
 * Character classes of the small libc: ASCII only (bytes >= 0x80 belong to
 * no class).  Arguments are ints holding an unsigned char value or EOF.
 */
#ifndef UK_LIBC_CTYPE_H
#define UK_LIBC_CTYPE_H

/* '0'..'9' */
int isdigit(int c);
/* '0'..'9', 'a'..'f', 'A'..'F' */
int isxdigit(int c);
/* 'a'..'z', 'A'..'Z' */
int isalpha(int c);
/* isalpha or isdigit */
int isalnum(int c);
/* ' ', '\t', '\n', '\v', '\f', '\r' */
int isspace(int c);
/* 'A'..'Z' */
int isupper(int c);
/* 'a'..'z' */
int islower(int c);
/* 0x20..0x7e */
int isprint(int c);
/* printable, not space, not alphanumeric */
int ispunct(int c);
/* 0x00..0x1f and 0x7f */
int iscntrl(int c);
/* Upper-case version of an ASCII lower-case letter; c unchanged otherwise. */
int toupper(int c);
/* Lower-case version of an ASCII upper-case letter; c unchanged otherwise. */
int tolower(int c);

#endif
