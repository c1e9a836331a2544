/*
 * 16550 UARTs: COM1 (console) and COM2 (debugger port).  A consumer such as
 * a gdbstub transport owns a port's RX path by installing an RX handler; it
 * can also poll while the world is stopped.
 */
#ifndef UK_UART_H
#define UK_UART_H

#include <uk/types.h>

enum uk_uart_port {
    UK_UART_COM1 = 0,
    UK_UART_COM2 = 1,
};

/* True if the port exists (scratch register test at init). */
bool uk_uart_present(enum uk_uart_port port);

/* Blocking write of one byte (spins on THR empty).  Any context. */
void uk_uart_putc(enum uk_uart_port port, uint8_t c);
void uk_uart_write(enum uk_uart_port port, const void *buf, size_t len);

/* Non-blocking read: a byte (0..255) or -1 when the RX FIFO is empty. */
int uk_uart_getc(enum uk_uart_port port);

/*
 * Install fn as the port's RX interrupt handler (NULL removes it) and enable
 * the RX interrupt.  fn runs in interrupt context with interrupts disabled
 * and should drain the FIFO with uk_uart_getc().  The trap frame of the
 * interrupted context is passed so a debugger can stop there.
 */
struct uk_trap_frame;
typedef void (*uk_uart_rx_fn)(enum uk_uart_port port, struct uk_trap_frame *tf, void *arg);
uk_result uk_uart_set_rx_handler(enum uk_uart_port port, uk_uart_rx_fn fn, void *arg);

#endif
