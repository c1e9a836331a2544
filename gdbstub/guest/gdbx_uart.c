/*
 * COM2 transport: the RX interrupt enters the stub (0x03 or a packet
 * start); while the world is stopped the stub polls the FIFO.
 */
#include "gdbx.h"

#include <uk/klog.h>
#include <uk/uart.h>

static int uart_getc(void)
{
    return uk_uart_getc(UK_UART_COM2);
}

static void uart_write(const uint8_t *buf, size_t len)
{
    uk_uart_write(UK_UART_COM2, buf, len);
}

static const struct gdbx_transport uart_transport = {
    .name = "COM2",
    .getc = uart_getc,
    .write = uart_write,
};

static void uart_rx(enum uk_uart_port port, struct uk_trap_frame *tf, void *arg)
{
    int c;
    while ((c = uk_uart_getc(UK_UART_COM2)) >= 0)
        gdbx_rx_byte(&uart_transport, tf, c);
}

void gdbx_uart_init(void)
{
    if (!uk_uart_present(UK_UART_COM2)) {
        uk_log(UK_LOG_INFO, "gdb: no COM2");
        return;
    }
    gdbx_set_transport(&uart_transport);
    if (uk_uart_set_rx_handler(UK_UART_COM2, uart_rx, NULL))
        uk_warn("gdb: cannot take the COM2 RX interrupt");
}
