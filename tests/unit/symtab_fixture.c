/*
 * Functions for test_symtab: linked on the host into a small static ELF
 * (tests/unit/test_symtab.mk) whose symbols mksyms.sh turns into a table.
 * aligned(64) leaves padding between functions (addresses with no symbol);
 * fx_beta gets a .cold part, fx_local a .constprop clone, fx_asm_label has
 * no size (like the isr_N stubs), fx_beta_alias shares fx_beta's address.
 */
#define FX __attribute__((noinline, aligned(64)))

void fx_die(void) __attribute__((cold, noreturn, noinline));
void fx_die(void)
{
    for (;;)
        __asm__ volatile("");
}

FX int fx_alpha(int x)
{
    return x * 3 + 1;
}

FX int fx_beta(int x)
{
    if (__builtin_expect(x == 42, 0))
        fx_die();
    return x + 7;
}

int fx_beta_alias(int x) __attribute__((alias("fx_beta")));

static FX int fx_local(int x)
{
    return x ^ 0x55;
}

__asm__(".text\n"
        ".p2align 6\n"
        "fx_asm_label:\n"
        "nop\n"
        "nop\n"
        "ret\n"
        ".p2align 6\n"
        ".globl fx_asm_sized\n"
        ".type fx_asm_sized, @function\n"
        "fx_asm_sized:\n"
        "ret\n"
        ".size fx_asm_sized, . - fx_asm_sized\n");

void fx_start(void);
FX void fx_start(void)
{
    volatile int v = fx_alpha(1) + fx_beta(2) + fx_local(3);

    (void)v;
    for (;;)
        __asm__ volatile("");
}
