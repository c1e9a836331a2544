/*
 * Interrupt-driven devices and cross-CPU signals: COM2 receive interrupts
 * (the host writes to the COM2 socket), and NMIs to every other CPU (the
 * debugger's and the panic path's stop-the-world).
 */
#include <ctype.h>
#include <uk/cpu.h>
#include <uk/sync.h>
#include <uk/test.h>
#include <uk/time.h>
#include <uk/trap.h>
#include <uk/uart.h>

static struct uk_spinlock rx_lock = UK_SPINLOCK_INIT;
static struct uk_waitq rx_wq = UK_WAITQ_INIT;
static char rx_buf[256];
static volatile unsigned rx_len, rx_irqs;

static void com2_rx(enum uk_uart_port port, struct uk_trap_frame *tf, void *arg)
{
    int c;
    uk_spin_lock(&rx_lock);
    rx_irqs++;
    while ((c = uk_uart_getc(port)) >= 0)
        if (rx_len < sizeof(rx_buf))
            rx_buf[rx_len++] = (char)c;
    uk_waitq_wake_all(&rx_wq);
    uk_spin_unlock(&rx_lock);
}

UK_TEST(uart_rx)
{
    UK_CHECK(uk_uart_present(UK_UART_COM2));
    UK_CHECK(uk_uart_set_rx_handler(UK_UART_COM2, com2_rx, NULL) == UK_OK);
    uk_info("uart_rx: waiting for a line on COM2");
    uint64_t deadline = uk_time_ns() + UK_MSEC(30000);
    unsigned long f = uk_spin_lock_irqsave(&rx_lock);
    while (!(rx_len && rx_buf[rx_len - 1] == '\n') && rx_len < sizeof(rx_buf)) {
        if (uk_waitq_wait(&rx_wq, &rx_lock, deadline) == UK_ETIMEDOUT)
            break;
    }
    unsigned n = rx_len;
    uk_spin_unlock_irqrestore(&rx_lock, f);
    uk_info("uart_rx: %u bytes in %u interrupts", n, rx_irqs);
    UK_CHECK(n > 0 && rx_buf[n - 1] == '\n');
    UK_CHECK(rx_irqs > 0);
    for (unsigned i = 0; i < n; i++)
        uk_uart_putc(UK_UART_COM2, (uint8_t)toupper((unsigned char)rx_buf[i]));
    UK_CHECK(uk_uart_set_rx_handler(UK_UART_COM2, NULL, NULL) == UK_OK);
    return 0;
}

static volatile unsigned nmi_seen[UK_CPU_MAX];

static enum uk_trap_action nmi_hook(struct uk_trap_frame *tf, void *arg)
{
    __atomic_add_fetch(&nmi_seen[uk_cpu_id()], 1, __ATOMIC_RELAXED);
    return UK_TRAP_HANDLED;
}

UK_TEST(nmi_others)
{
    unsigned n = uk_cpu_count(), me = uk_cpu_id();
    UK_CHECK(uk_trap_hook_register(UK_EXC_NMI, nmi_hook, NULL) == UK_OK);
    for (unsigned round = 1; round <= 3; round++) {
        uk_ipi_nmi_others();
        uint64_t deadline = uk_time_ns() + UK_MSEC(2000);
        for (unsigned c = 0; c < n; c++) {
            if (c == me)
                continue;
            while (nmi_seen[c] < round && uk_time_ns() < deadline)
                uk_cpu_relax();
            UK_CHECK(nmi_seen[c] == round);
        }
        UK_CHECK(nmi_seen[me] == 0);
    }
    uk_info("nmi_others: %u CPUs answered 3 rounds", n - 1);
    return 0;
}
