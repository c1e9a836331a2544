/*
 * 16550 UART driver for COM1 (console) and COM2 (debugger port).
 *
 * Output is polled (spin on THR empty); input is interrupt-driven once a
 * consumer installs an RX handler, and can always be polled.  Under KVM every
 * register access is a port-I/O exit (~10 us here), so the transmit path
 * touches LSR only when the FIFO may be full.
 */
#include "arch/x86_64/cpu.h"
#include "core/kernel.h"
#include <uk/irq.h>
#include <uk/uart.h>

enum uart_reg {
    UART_DATA = 0, /* RBR/THR; DLL when DLAB */
    UART_IER = 1,  /* DLM when DLAB */
    UART_FCR = 2,  /* IIR on read */
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_SCR = 7,
};
enum { IER_RX = 0x01 };
enum { LSR_DR = 0x01, LSR_THRE = 0x20 };
enum { LCR_8N1 = 0x03, LCR_DLAB = 0x80 };
enum { MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT2 = 0x08 };
enum { FCR_ENABLE = 0x01, FCR_CLEAR = 0x06, FCR_TRIG14 = 0xc0 };
#define UART_FIFO 16

struct uart {
    uint16_t base;
    uint8_t gsi;
    bool present;
    unsigned tx_room; /* bytes we may write before checking LSR again */
    uk_uart_rx_fn rx_fn;
    void *rx_arg;
};

static struct uart uarts[2] = {
    [UK_UART_COM1] = {.base = 0x3f8, .gsi = 4},
    [UK_UART_COM2] = {.base = 0x2f8, .gsi = 3},
};

static void uart_setup(struct uart *u)
{
    outb(u->base + UART_SCR, 0x5a);
    if (inb(u->base + UART_SCR) != 0x5a)
        return;
    outb(u->base + UART_IER, 0);
    outb(u->base + UART_LCR, LCR_DLAB);
    outb(u->base + UART_DATA, 1); /* 115200 baud */
    outb(u->base + UART_IER, 0);
    outb(u->base + UART_LCR, LCR_8N1);
    outb(u->base + UART_FCR, FCR_ENABLE | FCR_CLEAR | FCR_TRIG14);
    outb(u->base + UART_MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
    u->present = true;
}

void console_init(void)
{
    uart_setup(&uarts[UK_UART_COM1]);
}

void uart_init(void)
{
    uart_setup(&uarts[UK_UART_COM2]);
}

bool uk_uart_present(enum uk_uart_port port)
{
    return port <= UK_UART_COM2 && uarts[port].present;
}

void uk_uart_putc(enum uk_uart_port port, uint8_t c)
{
    struct uart *u = &uarts[port];
    if (!u->present)
        return;
    if (u->tx_room == 0) {
        while (!(inb(u->base + UART_LSR) & LSR_THRE))
            uk_cpu_relax();
        u->tx_room = UART_FIFO;
    }
    outb(u->base + UART_DATA, c);
    u->tx_room--;
}

void uk_uart_write(enum uk_uart_port port, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        uk_uart_putc(port, p[i]);
}

int uk_uart_getc(enum uk_uart_port port)
{
    struct uart *u = &uarts[port];
    if (!u->present || !(inb(u->base + UART_LSR) & LSR_DR))
        return -1;
    return inb(u->base + UART_DATA);
}

static void uart_irq(unsigned gsi, struct uk_trap_frame *tf, void *arg)
{
    struct uart *u = arg;
    enum uk_uart_port port = (enum uk_uart_port)(u - uarts);
    if (u->rx_fn) {
        u->rx_fn(port, tf, u->rx_arg);
    } else {
        while (uk_uart_getc(port) >= 0) /* nobody listens: drop */
            ;
    }
}

uk_result uk_uart_set_rx_handler(enum uk_uart_port port, uk_uart_rx_fn fn, void *arg)
{
    if (port > UK_UART_COM2)
        return UK_EINVAL;
    struct uart *u = &uarts[port];
    if (!u->present)
        return UK_ENOENT;
    unsigned long flags = uk_irq_save();
    u->rx_fn = fn;
    u->rx_arg = arg;
    uk_irq_restore(flags);
    uk_irq_set_name(u->gsi, port == UK_UART_COM1 ? "com1" : "com2");
    uk_result r = uk_irq_register(u->gsi, uart_irq, u);
    if (r != UK_OK && r != UK_EBUSY)
        return r;
    outb(u->base + UART_IER, fn ? IER_RX : 0);
    return UK_OK;
}
