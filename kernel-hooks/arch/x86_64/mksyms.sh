#!/bin/sh
# Kernel symbol table for the two-pass link (see IMAGE_template in Makefile).
#
#   mksyms.sh gen PASS1.elf > X.syms.S
#       Emit an assembler file whose `.uksyms` section is the symbol table
#       (layout: kernel-hooks/include/uk/symtab_abi.h) of the function
#       symbols (nm types t T w W) of PASS1.elf.  Addresses are written as
#       numbers, so the table is only right if pass 2 moves nothing: `check`.
#
#   mksyms.sh check PASS1.elf FINAL.elf
#       Compare address, size and name of every symbol of both images,
#       except __uksyms_end, __image_end and symbols the table itself adds
#       inside [__uksyms_start, __uksyms_end) of FINAL.elf.  Prints the
#       differences and exits 1 if there are any; silent on success.
#
# Which symbols go into the table (a display heuristic, deterministic):
#   * several symbols at one address (aliases, linker-script markers such as
#     __text_start): keep one, preferring one with a size, then a name not
#     starting with "__", then the shortest name, then the smallest in byte
#     order;
#   * a symbol without size (asm labels such as isr_N) extends to the next
#     symbol of any kind or to the end of its section, whichever comes first;
#     if that is empty, or it is in no section (a linker-script marker at a
#     section end such as __text_end), it is dropped;
#   * a symbol inside the range of the previous kept symbol is dropped if it
#     has no size of its own or lies entirely within it (a label inside an
#     asm function, e.g. arch_switch_resume); if it sticks out, the previous
#     one is cut short so that entries never overlap.
#
# POSIX sh + awk + binutils (nm, size).

set -eu
LC_ALL=C
export LC_ALL

me=mksyms.sh
die() {
    echo "$me: $*" >&2
    exit 1
}

abi_h="$(dirname "$0")/../../include/uk/symtab_abi.h"

# Shared awk helper: hex string -> number (exact below 2^53).
AWK_HEX='
function hex(s,    i, c, v) {
    v = 0
    s = tolower(s)
    for (i = 1; i <= length(s); i++) {
        c = index("0123456789abcdef", substr(s, i, 1))
        if (c == 0)
            return -1
        v = v * 16 + c - 1
    }
    return v
}
'

gen() {
    elf=$1
    [ -r "$elf" ] || die "cannot read $elf"
    [ -r "$abi_h" ] || die "cannot read $abi_h"
    magic=$(sed -n 's/^#define UK_SYMTAB_MAGIC[[:space:]]*\(0x[0-9a-fA-F]*\).*/\1/p' "$abi_h")
    version=$(sed -n 's/^#define UK_SYMTAB_VERSION[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$abi_h")
    [ -n "$magic" ] && [ -n "$version" ] || die "no UK_SYMTAB_MAGIC/VERSION in $abi_h"
    secs=$(size -A -d "$elf") || die "size failed on $elf"
    syms=$(nm -S -n --defined-only "$elf") || die "nm failed on $elf"

    {
        printf '%s\n' "$secs" | sed 's/^/S /'
        printf '%s\n' "$syms" | sed 's/^/N /'
    } | awk -v elf="$elf" -v magic="$magic" -v version="$version" "$AWK_HEX"'
# size -A -d: "S name size addr"; skip non-allocated (addr 0) sections.
$1 == "S" {
    if (NF == 4 && $3 ~ /^[0-9]+$/ && $4 ~ /^[0-9]+$/ && $3 + 0 > 0 && $4 + 0 > 0) {
        ns++
        sec_lo[ns] = $4 + 0
        sec_hi[ns] = $4 + $3
    }
    next
}
# nm -S -n: "N addr [size] type name" (no size column when the size is 0).
$1 == "N" {
    if (NF == 5) {
        a = $2; sz = hex($3); t = $4; nm = $5
    } else if (NF == 4) {
        a = $2; sz = 0; t = $3; nm = $4
    } else
        next
    v = hex(a)
    if (v < 0 || sz < 0)
        bad = bad "bad nm line: " $0 "\n"
    if (v >= 9007199254740992)
        bad = bad "address too large for this script: " $0 "\n"
    n++
    A[n] = v; AH[n] = a; SZ[n] = sz; T[n] = t; NM[n] = nm
    next
}
function better(i, j) {         # is candidate i preferable to j?
    if ((SZ[i] > 0) != (SZ[j] > 0))
        return SZ[i] > 0
    if ((substr(NM[i], 1, 2) != "__") != (substr(NM[j], 1, 2) != "__"))
        return substr(NM[i], 1, 2) != "__"
    if (length(NM[i]) != length(NM[j]))
        return length(NM[i]) < length(NM[j])
    return NM[i] < NM[j]
}
function sec_end(v,    k) {
    for (k = 1; k <= ns; k++)
        if (sec_lo[k] <= v && v < sec_hi[k])
            return sec_hi[k]
    return -1
}
function esc(s,    r, i, c) {  # for .asciz (by hand: gsub and "\\" differ between awks)
    r = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\" || c == "\"")
            r = r "\\"
        r = r c
    }
    return r
}
function cmt(s) {               # safe inside a C comment (the .S goes through cpp)
    gsub(/\*\//, "*_/", s)
    return s
}
END {
    if (bad != "") {
        printf "mksyms.sh: %s: %s", elf, bad > "/dev/stderr"
        exit 1
    }
    # Next greater address of any symbol, for symbols without a size.
    nextgt[n] = -1
    for (i = n - 1; i >= 1; i--)
        nextgt[i] = (A[i + 1] > A[i]) ? A[i + 1] : nextgt[i + 1]

    # One candidate per address (nm -n keeps equal addresses together).
    nc = 0
    for (i = 1; i <= n; i++) {
        if (T[i] !~ /^[tTwW]$/)
            continue
        if (nc > 0 && A[C[nc]] == A[i]) {
            if (better(i, C[nc]))
                C[nc] = i
            continue
        }
        C[++nc] = i
    }

    m = 0
    for (k = 1; k <= nc; k++) {
        i = C[k]
        v = A[i]
        s = SZ[i]
        if (s == 0) {
            e = nextgt[i]
            se = sec_end(v)
            if (ns > 0 && se < 0)
                continue                # outside any section: a marker at an end
            if (se >= 0 && (e < 0 || se < e))
                e = se
            if (e > v)
                s = e - v
            if (s == 0)
                continue
            if (m > 0 && v < KA[m] + KS[m])
                continue                # label inside the previous function
        } else if (m > 0 && v < KA[m] + KS[m]) {
            if (v + s <= KA[m] + KS[m])
                continue                # nested in the previous function
            KS[m] = v - KA[m]           # overlap: cut the previous one short
        }
        m++
        KA[m] = v; KH[m] = AH[i]; KS[m] = s; KN[m] = NM[i]
    }

    printf "/* Generated by mksyms.sh from %s: do not edit.  Layout: <uk/symtab_abi.h>. */\n", cmt(elf)
    printf "\t.section .uksyms, \"a\"\n"
    printf "\t.p2align 3\n"
    printf ".Luksyms_hdr:\n"
    printf "\t.long %s\t/* magic */\n", magic
    printf "\t.long %s\t/* version */\n", version
    printf "\t.long %d\t/* count */\n", m
    printf "\t.long .Luksyms_str - .Luksyms_hdr\t/* str_off */\n"
    printf "\t.long .Luksyms_str_end - .Luksyms_str\t/* str_size */\n"
    printf "\t.long 0\t/* flags */\n"
    off = 0
    for (k = 1; k <= m; k++) {
        s = KS[k]
        if (s > 4294967295)
            s = 4294967295
        printf "\t.quad 0x%s\n\t.long %.0f, %.0f\t/* %s */\n", KH[k], s, off, cmt(KN[k])
        off += length(KN[k]) + 1
    }
    printf ".Luksyms_str:\n"
    for (k = 1; k <= m; k++)
        printf "\t.asciz \"%s\"\n", esc(KN[k])
    # An empty table still has a terminated (empty) string table.
    if (m == 0)
        printf "\t.byte 0\n"
    printf ".Luksyms_str_end:\n"
    printf "\t.section .note.GNU-stack, \"\", @progbits\n"
}
'
}

check() {
    p1=$1
    fin=$2
    [ -r "$p1" ] || die "cannot read $p1"
    [ -r "$fin" ] || die "cannot read $fin"
    s1=$(nm -S "$p1") || die "nm failed on $p1"
    s2=$(nm -S "$fin") || die "nm failed on $fin"

    diffs=$({
        printf '%s\n' "$s1" | sed 's/^/1 /'
        printf '%s\n' "$s2" | sed 's/^/2 /'
    } | awk "$AWK_HEX"'
{
    # Key: address, size (if any) and name; the type letter is left out
    # because a linker-script symbol in the empty pass-1 .uksyms lands in
    # another section (nm says N or B) and is R in the final image.
    which = $1
    name = $NF
    if (which == "2" && name == "__uksyms_start")
        ustart = hex($2)
    if (which == "2" && name == "__uksyms_end")
        uend = hex($2)
    if (NF < 3 || name == "__uksyms_end" || name == "__image_end")
        next
    if (NF == 5)
        key = $2 " " $3 " " name
    else if (NF == 4)
        key = $2 " " name
    else
        key = "undefined " name
    K[which, ++cnt[which]] = key
    A[which, cnt[which]] = (NF >= 4) ? $2 : ""
}
END {
    for (i = 1; i <= cnt["1"]; i++)
        c1[K["1", i]]++
    for (i = 1; i <= cnt["2"]; i++) {
        key = K["2", i]
        # A new symbol inside .uksyms comes from the table object: not a move.
        if (!(key in c1) && ustart != "" && uend != "" && A["2", i] != "" &&
            hex(A["2", i]) >= ustart && hex(A["2", i]) < uend)
            continue
        c2[key]++
    }
    for (k in c1)
        if (!(k in c2) || c1[k] != c2[k])
            printf "  pass1: %s\n", k
    for (k in c2)
        if (!(k in c1) || c1[k] != c2[k])
            printf "  final: %s\n", k
}
' | sort -k2,2 -k1,1) || die "check failed to run"

    if [ -n "$diffs" ]; then
        {
            echo "$me: symbols differ between $p1 and $fin"
            echo "$me: (adding .uksyms must not move anything; is it still the last section?)"
            printf '%s\n' "$diffs"
        } >&2
        exit 1
    fi
}

case ${1-} in
gen)
    [ $# -eq 2 ] || die "usage: $me gen PASS1.elf"
    gen "$2"
    ;;
check)
    [ $# -eq 3 ] || die "usage: $me check PASS1.elf FINAL.elf"
    check "$2" "$3"
    ;;
*)
    die "usage: $me gen PASS1.elf | $me check PASS1.elf FINAL.elf"
    ;;
esac
