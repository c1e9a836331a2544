/* Unit tests: `ukctl run` option parsing and the QEMU argv builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_argv.h"
#include "run_opts.h"

#define ARGV(...)          ((char *[]){"run", __VA_ARGS__, NULL})
#define ARGC(...)          ((int)(sizeof((char *[]){"run", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(o, err, ...) run_opts_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), o, err, sizeof(err))

static void test_defaults(void **state)
{
    struct run_opts o;
    char err[256];

    assert_int_equal(PARSE(&o, err, "img.elf"), 0);
    assert_string_equal(o.image, "img.elf");
    assert_int_equal(o.smp, 1);
    assert_int_equal(o.mem_mib, 128);
    assert_int_equal(o.accel, RUN_ACCEL_AUTO);
    assert_int_equal(o.on_panic, RUN_ON_PANIC_QUIT);
    assert_null(o.name);
    assert_null(o.cmdline);
    assert_null(o.run_dir);
    assert_false(o.detach || o.keep || o.no_net || o.help);
    assert_int_equal(o.nfwds, 0);
}

static void test_all_options(void **state)
{
    struct run_opts o;
    char err[256];

    assert_int_equal(PARSE(&o, err, "--name", "demo", "--smp=4", "--mem", "256", "--cmdline",
                           "a=b c", "--run-dir", "/tmp/x", "--accel=tcg", "--fwd", "9000:8080",
                           "--fwd=0:81", "--on-panic", "pause", "--detach", "--keep",
                           "--token-file", "/t", "k.elf"),
                     0);
    assert_string_equal(o.token_file, "/t");
    assert_string_equal(o.name, "demo");
    assert_int_equal(o.smp, 4);
    assert_int_equal(o.mem_mib, 256);
    assert_string_equal(o.cmdline, "a=b c");
    assert_string_equal(o.run_dir, "/tmp/x");
    assert_int_equal(o.accel, RUN_ACCEL_TCG);
    assert_int_equal(o.on_panic, RUN_ON_PANIC_PAUSE);
    assert_int_equal(o.nfwds, 2);
    assert_int_equal(o.fwds[0].host, 9000);
    assert_int_equal(o.fwds[0].guest, 8080);
    assert_int_equal(o.fwds[1].host, 0);
    assert_int_equal(o.fwds[1].guest, 81);
    assert_true(o.detach && o.keep);
    assert_string_equal(o.image, "k.elf");

    assert_int_equal(PARSE(&o, err, "--accel", "kvm", "--no-net", "--", "--odd-name.elf"), 0);
    assert_int_equal(o.accel, RUN_ACCEL_KVM);
    assert_true(o.no_net);
    assert_string_equal(o.image, "--odd-name.elf");
}

static void test_help(void **state)
{
    struct run_opts o;
    char err[256];

    assert_int_equal(PARSE(&o, err, "--help"), 0);
    assert_true(o.help);
    assert_int_equal(PARSE(&o, err, "--smp", "2", "-h", "--bogus"), 0);
    assert_true(o.help);
}

/* Each bad set of options gives -1 and exactly this message. */
static void test_errors(void **state)
{
    struct run_opts o;
    char err[256];

#define BAD(msg, ...)                                                                              \
    do {                                                                                           \
        assert_int_equal(PARSE(&o, err, __VA_ARGS__), -1);                                         \
        assert_string_equal(err, msg);                                                             \
    } while (0)
    BAD("unknown option '--bogus' (see ukctl run --help)", "--bogus", "x");
    BAD("unknown option '--smpx=1' (see ukctl run --help)", "--smpx=1", "x");
    BAD("unknown option '--keep=1' (see ukctl run --help)", "--keep=1", "x");
    BAD("invalid --smp: '0' (want 1..16)", "--smp", "0", "x");
    BAD("invalid --smp: '17' (want 1..16)", "--smp", "17", "x");
    BAD("invalid --smp: 'two' (want 1..16)", "--smp", "two", "x");
    BAD("invalid --smp: '-1' (want 1..16)", "--smp=-1", "x");
    BAD("invalid --smp: '' (want 1..16)", "--smp=", "x");
    BAD("invalid --smp: '4k' (want 1..16)", "--smp", "4k", "x");
    BAD("invalid --mem: '15' (want 16..1048576 MiB)", "--mem", "15", "x");
    BAD("invalid --mem: '99999999999999999999' (want 16..1048576 MiB)", "--mem",
        "99999999999999999999", "x");
    BAD("invalid --accel: 'hvf' (want kvm, tcg or auto)", "--accel", "hvf", "x");
    BAD("invalid --fwd: '8080' (want HOSTPORT:GUESTPORT)", "--fwd", "8080", "x");
    BAD("invalid --fwd: '1:0' (want HOSTPORT:GUESTPORT)", "--fwd", "1:0", "x");
    BAD("invalid --fwd: '65536:1' (want HOSTPORT:GUESTPORT)", "--fwd", "65536:1", "x");
    BAD("invalid --fwd: ':80' (want HOSTPORT:GUESTPORT)", "--fwd", ":80", "x");
    BAD("invalid --fwd: '1:2:3' (want HOSTPORT:GUESTPORT)", "--fwd", "1:2:3", "x");
    BAD("invalid --on-panic: 'reboot' (want quit or pause)", "--on-panic", "reboot", "x");
    BAD("invalid --name: 'a/b'", "--name", "a/b", "x");
    BAD("invalid --name: '..'", "--name", "..", "x");
    BAD("invalid --run-dir: empty", "--run-dir=", "x");
    BAD("option --mem needs a value", "x", "--mem");
    BAD("missing IMAGE (see ukctl run --help)", "--smp", "2");
    BAD("unexpected argument 'b' (one IMAGE only)", "a", "b");
    BAD("unknown option '--m?x' (see ukctl run --help)", "--m\nx", "x");
    BAD("--fwd conflicts with --no-net", "--no-net", "--fwd", "1:2", "x");
    BAD("invalid --token-file: empty", "--token-file=", "x");
    BAD("option --token-file needs a value", "x", "--token-file");
    BAD("unknown option '-x' (see ukctl run --help)", "-x", "img");
#undef BAD
}

/* getopt_long: options after IMAGE, unambiguous abbreviations. */
static void test_getopt_forms(void **state)
{
    struct run_opts o;
    char err[256];

    assert_int_equal(PARSE(&o, err, "img", "--smp", "3", "--det"), 0);
    assert_string_equal(o.image, "img");
    assert_int_equal(o.smp, 3);
    assert_true(o.detach);
    assert_int_equal(PARSE(&o, err, "-h"), 0);
    assert_true(o.help);
    /* --help lists every option getopt_long knows. */
    static const char *const names[] = {
        "--name",     "--smp",        "--mem",    "--cmdline", "--run-dir", "--accel", "--fwd",
        "--on-panic", "--token-file", "--no-net", "--detach",  "--keep",    "--help"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_non_null(strstr(run_opts_usage, names[i]));
}

/* token= is taken out of a command line, quoting respected. */
static void test_take_token(void **state)
{
    char rest[64], tok[16];

    assert_int_equal(run_cmdline_take_token("a=1  token=abc b=\"x token=no\"", rest, sizeof(rest),
                                            tok, sizeof(tok)),
                     1);
    assert_string_equal(tok, "abc");
    assert_string_equal(rest, "a=1 b=\"x token=no\"");
    assert_int_equal(
        run_cmdline_take_token("a tokenx=1 token", rest, sizeof(rest), tok, sizeof(tok)), 0);
    assert_string_equal(rest, "a tokenx=1 token");
    assert_int_equal(run_cmdline_take_token(NULL, rest, sizeof(rest), tok, sizeof(tok)), 0);
    assert_string_equal(rest, "");
    assert_int_equal(
        run_cmdline_take_token("token=a token=b", rest, sizeof(rest), tok, sizeof(tok)), 1);
    assert_string_equal(tok, "b"); /* the last wins, as in the kernel */
    assert_int_equal(run_cmdline_take_token("token= a", rest, sizeof(rest), tok, sizeof(tok)), 1);
    assert_string_equal(tok, ""); /* taken out; ukctl then refuses the empty token */
    assert_string_equal(rest, "a");
    assert_int_equal(
        run_cmdline_take_token("token=0123456789abcdef", rest, sizeof(rest), tok, sizeof(tok)), -1);
    assert_int_equal(run_cmdline_take_token("token=\"a b\"", rest, sizeof(rest), tok, sizeof(tok)),
                     -1);
}

static void test_too_many_fwds(void **state)
{
    char *argv[2 * RUN_MAX_FWDS + 8];
    struct run_opts o;
    char err[256];
    int argc = 0, i;

    argv[argc++] = "run";
    for (i = 0; i <= RUN_MAX_FWDS; i++) {
        argv[argc++] = "--fwd";
        argv[argc++] = "0:80";
    }
    argv[argc++] = "x";
    argv[argc] = NULL;
    assert_int_equal(run_opts_parse(argc, argv, &o, err, sizeof(err)), -1);
    assert_string_equal(err, "too many --fwd (max 16)");
}

static int argv_has(char **argv, const char *word)
{
    for (; *argv; argv++)
        if (!strcmp(*argv, word))
            return 1;
    return 0;
}

/* True if `flag` is immediately followed by `value`. */
static int argv_pair(char **argv, const char *flag, const char *value)
{
    for (; argv[0] && argv[1]; argv++)
        if (!strcmp(argv[0], flag) && !strcmp(argv[1], value))
            return 1;
    return 0;
}

static const struct run_fwd fwds[] = {{40000, 8080}, {40001, 8081}};

static struct qemu_plan base_plan(void)
{
    return (struct qemu_plan){
        .qemu = "qemu-system-x86_64",
        .image = "/img/k.elf",
        .run_dir = "/run/u",
        .accel = RUN_ACCEL_KVM,
        .smp = 2,
        .mem_mib = 64,
        .fwds = fwds,
        .nfwds = 2,
        .net = true,
    };
}

static void test_argv_kvm_foreground(void **state)
{
    struct qemu_plan p = base_plan();
    char **argv = qemu_argv_build(&p);

    assert_non_null(argv);
    assert_string_equal(argv[0], "qemu-system-x86_64");
    assert_true(argv_has(argv, "-nodefaults"));
    assert_true(argv_has(argv, "-no-user-config"));
    assert_true(argv_has(argv, "-no-reboot"));
    assert_true(argv_pair(argv, "-display", "none"));
    assert_true(argv_pair(argv, "-accel", "kvm"));
    assert_true(argv_pair(argv, "-cpu", "host,-arch-capabilities"));
    assert_true(argv_pair(argv, "-smp", "2"));
    assert_true(argv_pair(argv, "-object",
                          "memory-backend-file,id=mem,size=64M,mem-path=/run/u/ram,share=on"));
    assert_true(argv_pair(argv, "-M", "microvm,acpi=off,memory-backend=mem"));
    assert_true(argv_pair(argv, "-m", "64M"));
    assert_true(argv_pair(argv, "-global", "virtio-mmio.force-legacy=false"));
    assert_true(argv_pair(argv, "-chardev", "stdio,id=con,logfile=/run/u/console.log,signal=off"));
    assert_true(argv_pair(argv, "-serial", "chardev:con"));
    assert_true(
        argv_pair(argv, "-chardev", "socket,id=gdb,path=/run/u/gdb.sock,server=on,wait=off"));
    assert_true(argv_pair(argv, "-device", "isa-serial,chardev=gdb,iobase=0x2f8,irq=3"));
    assert_true(argv_pair(argv, "-qmp", "unix:/run/u/qmp.sock,server=on,wait=off"));
    assert_true(argv_pair(argv, "-qmp", "unix:/run/u/qmp-tools.sock,server=on,wait=off"));
    assert_false(argv_has(argv, "-fw_cfg"));
    assert_true(argv_pair(argv, "-device", "pvpanic"));
    assert_true(argv_pair(argv, "-action", "panic=pause"));
    assert_true(argv_pair(argv, "-device", "isa-debug-exit,iobase=0xf4,iosize=4"));
    assert_true(argv_pair(argv, "-netdev",
                          "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40000-:8080,"
                          "hostfwd=tcp:127.0.0.1:40001-:8081"));
    assert_true(argv_pair(argv, "-device", "virtio-net-device,netdev=net0"));
    assert_true(argv_pair(argv, "-kernel", "/img/k.elf"));
    assert_false(argv_has(argv, "-append"));
    /* virtio-console ports */
    assert_true(argv_pair(argv, "-device", "virtio-serial-device,max_ports=4"));
    assert_true(argv_pair(argv, "-chardev",
                          "socket,id=gdbv,path=/run/u/gdb-virtio.sock,server=on,wait=off"));
    assert_true(argv_pair(argv, "-device", "virtserialport,chardev=gdbv,name=org.ukscope.gdb"));
    assert_true(argv_pair(argv, "-chardev",
                          "socket,id=tele,path=/run/u/telemetry.sock,server=on,wait=off"));
    assert_true(
        argv_pair(argv, "-device", "virtserialport,chardev=tele,name=org.ukscope.telemetry"));
    assert_false(argv_has(argv, "-S"));
    qemu_argv_free(argv);
}

static void test_argv_tcg_detach_nonet(void **state)
{
    struct qemu_plan p = base_plan();
    char **argv;

    p.accel = RUN_ACCEL_TCG;
    p.detach = true;
    p.net = false;
    p.cmdline = "panic=exit  x";
    p.start_paused = true;
    argv = qemu_argv_build(&p);
    assert_non_null(argv);
    assert_true(argv_pair(argv, "-accel", "tcg"));
    assert_true(argv_pair(argv, "-cpu", "max"));
    assert_true(argv_pair(argv, "-chardev", "file,id=con,path=/run/u/console.log"));
    assert_false(argv_has(argv, "-netdev"));
    assert_false(argv_has(argv, "virtio-net-device,netdev=net0"));
    assert_true(argv_pair(argv, "-append", "panic=exit  x"));
    assert_true(argv_has(argv, "-S"));
    /* The ports do not depend on the network. */
    assert_true(argv_pair(argv, "-device", "virtio-serial-device,max_ports=4"));
    assert_true(argv_pair(argv, "-chardev",
                          "socket,id=tele,path=/run/u/telemetry.sock,server=on,wait=off"));
    qemu_argv_free(argv);
}

/* Commas in paths are doubled; a crafted run dir cannot add an option. */
static void test_argv_commas(void **state)
{
    struct qemu_plan p = base_plan();
    char **argv;
    char *e = qemu_opt_escape("a,b,,c");

    assert_string_equal(e, "a,,b,,,,c");
    free(e);
    p.run_dir = "/r/x,share=off,mem-path=/etc/y z=1";
    p.token_file = "/r/x,file=/etc/shadow/token";
    argv = qemu_argv_build(&p);
    assert_non_null(argv);
    assert_true(argv_pair(argv, "-object",
                          "memory-backend-file,id=mem,size=64M,"
                          "mem-path=/r/x,,share=off,,mem-path=/etc/y z=1/ram,share=on"));
    assert_true(argv_pair(argv, "-chardev",
                          "socket,id=gdb,path=/r/x,,share=off,,mem-path=/etc/y z=1/gdb.sock,"
                          "server=on,wait=off"));
    assert_true(argv_pair(argv, "-qmp",
                          "unix:/r/x,,share=off,,mem-path=/etc/y z=1/qmp-tools.sock,server=on,"
                          "wait=off"));
    assert_true(argv_pair(argv, "-chardev",
                          "stdio,id=con,logfile=/r/x,,share=off,,mem-path=/etc/y z=1/"
                          "console.log,signal=off"));
    assert_true(
        argv_pair(argv, "-fw_cfg", "name=opt/ukscope/token,file=/r/x,,file=/etc/shadow/token"));
    qemu_argv_free(argv);
}

/* The host's TSC rate is appended, without overriding the user's own. */
static void test_argv_tsc_hz(void **state)
{
    struct qemu_plan p = base_plan();
    char **argv;

    p.accel = RUN_ACCEL_TCG;
    p.tsc_hz = 2450000000ULL;
    argv = qemu_argv_build(&p);
    assert_non_null(argv);
    assert_true(argv_pair(argv, "-append", "tsc_hz=2450000000"));
    qemu_argv_free(argv);
    p.cmdline = "demo.load=0";
    argv = qemu_argv_build(&p);
    assert_true(argv_pair(argv, "-append", "demo.load=0 tsc_hz=2450000000"));
    qemu_argv_free(argv);
    p.cmdline = "tsc_hz=1000000000 x";
    argv = qemu_argv_build(&p);
    assert_true(argv_pair(argv, "-append", "tsc_hz=1000000000 x"));
    qemu_argv_free(argv);
}

static void test_argv_invalid(void **state)
{
    struct run_fwd zero[] = {{0, 8080}};
    struct qemu_plan p = base_plan();

    p.accel = RUN_ACCEL_AUTO;
    assert_null(qemu_argv_build(&p));
    p = base_plan();
    p.fwds = zero;
    p.nfwds = 1;
    assert_null(qemu_argv_build(&p));
    p = base_plan();
    p.image = NULL;
    assert_null(qemu_argv_build(&p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_options),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_too_many_fwds),
        cmocka_unit_test(test_getopt_forms),
        cmocka_unit_test(test_take_token),
        cmocka_unit_test(test_argv_commas),
        cmocka_unit_test(test_argv_kvm_foreground),
        cmocka_unit_test(test_argv_tcg_detach_nonet),
        cmocka_unit_test(test_argv_tsc_hz),
        cmocka_unit_test(test_argv_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
