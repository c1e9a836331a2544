fuzz_run_opts_SRCS := host-collector/ukctl/run_opts.c host-collector/ukctl/qemu_argv.c
