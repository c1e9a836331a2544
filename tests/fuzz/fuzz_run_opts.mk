fuzz_run_opts_SRCS := host-collector/run_opts.c host-collector/qemu_argv.c
