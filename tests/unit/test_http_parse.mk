test_http_parse_SRCS   := guest-agent/common/http_parse.c
test_http_parse_CFLAGS := -Iguest-agent
