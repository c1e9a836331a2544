/*
 * Port-I/O floor of the gdbstub's UART transport: the guest time to push
 * N bytes through COM2 with uk_uart_write (one LSR poll + one THR write per
 * byte).  Used by `make bench` (gdb section) and smoke-tested in e2e.
 */
#include <uk/klog.h>
#include <uk/test.h>
#include <uk/time.h>
#include <uk/uart.h>
#include <uk/cmdline.h>

UK_TEST(gdb_uart_floor)
{
    static const uint8_t buf[256] = {'x'};
    uint64_t n = uk_cmdline_get_u64("floor_bytes", 4096);
    UK_CHECK(uk_uart_present(UK_UART_COM2));
    uint64_t t0 = uk_time_ns();
    for (uint64_t done = 0; done < n; done += sizeof(buf))
        uk_uart_write(UK_UART_COM2, buf, sizeof(buf));
    uint64_t dt = uk_time_ns() - t0;
    uk_info("gdb_uart_floor: %llu bytes in %llu ns, %llu ns/byte", (unsigned long long)n,
            (unsigned long long)dt, (unsigned long long)(dt / (n ? n : 1)));
    return 0;
}
