#include "core/kernel.h"
#include <uk/panic.h>
#include <uk/klog.h>
void virtio_init(void) {}
void uk_backtrace_print(uint64_t rip, uint64_t rbp) { uk_log(UK_LOG_ERR, "bt %llx", (unsigned long long)rip); }
