test_metrics_text_SRCS   := guest-agent/common/metrics_text.c
test_metrics_text_CFLAGS := -Iguest-agent
