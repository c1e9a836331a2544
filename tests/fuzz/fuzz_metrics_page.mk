fuzz_metrics_page_SRCS   := guest-agent/common/metrics_text.c
fuzz_metrics_page_CFLAGS := -Iguest-agent
