/*
 * The virtio core against a real device: QEMU's virtio-rng
 * (-device virtio-rng-device).  One queue, device-writable buffers,
 * completion by interrupt.
 */
#include <string.h>
#include <uk/cpu.h>
#include <uk/sync.h>
#include <uk/test.h>
#include <uk/time.h>
#include <uk/virtio.h>

/* rng_lock closes the race between "nothing completed yet" and sleeping:
 * the interrupt handler wakes under the same lock. */
static struct uk_spinlock rng_lock = UK_SPINLOCK_INIT;
static struct uk_waitq rng_wq = UK_WAITQ_INIT;
static volatile unsigned rng_irqs;

static void rng_irq(struct uk_virtio_dev *d, void *arg)
{
    uk_spin_lock(&rng_lock);
    rng_irqs++;
    uk_waitq_wake_all(&rng_wq);
    uk_spin_unlock(&rng_lock);
}

UK_TEST(virtio_rng)
{
    struct uk_virtio_dev *dev;
    struct uk_virtq *vq;
    UK_CHECK(uk_virtio_claim(UK_VIRTIO_ID_RNG, 0, 0, &dev) == UK_OK);
    UK_CHECK(dev->features & UK_VIRTIO_F_VERSION_1);
    UK_CHECK(uk_virtio_queue_setup(dev, 0, 8, &vq) == UK_OK);
    UK_CHECK(uk_virtio_set_irq(dev, rng_irq, NULL) == UK_OK);
    uk_virtio_driver_ok(dev);

    static uint8_t buf[4][64];
    unsigned nonzero = 0;
    for (unsigned round = 0; round < 50; round++) {
        memset(buf, 0, sizeof(buf));
        for (unsigned i = 0; i < 4; i++) {
            struct uk_virtq_buf b = {.addr = buf[i], .len = sizeof(buf[i]), .device_writes = true};
            UK_CHECK(uk_virtq_add(vq, &b, 1, buf[i]) == UK_OK);
        }
        uk_virtq_kick(vq);
        unsigned got = 0;
        uint64_t deadline = uk_time_ns() + UK_MSEC(5000);
        while (got < 4) {
            uint32_t len;
            void *tok;
            unsigned long f = uk_spin_lock_irqsave(&rng_lock);
            while ((tok = uk_virtq_get(vq, &len))) {
                UK_CHECK(len > 0 && len <= 64);
                UK_CHECK(tok == buf[0] || tok == buf[1] || tok == buf[2] || tok == buf[3]);
                got++;
            }
            uk_result r = got < 4 ? uk_waitq_wait(&rng_wq, &rng_lock, deadline) : UK_OK;
            uk_spin_unlock_irqrestore(&rng_lock, f);
            if (r == UK_ETIMEDOUT)
                break;
        }
        UK_CHECK(got == 4);
        for (unsigned i = 0; i < 4; i++)
            for (unsigned k = 0; k < 64; k++)
                nonzero += buf[i][k] != 0;
    }
    uk_info("virtio_rng: %u interrupts, %u non-zero bytes of %u", rng_irqs, nonzero, 50 * 256);
    UK_CHECK(rng_irqs > 0);
    UK_CHECK(nonzero > 50 * 256 * 9 / 10); /* random bytes are rarely zero */
    /* A second claim of the same device fails: it is taken. */
    struct uk_virtio_dev *again;
    UK_CHECK(uk_virtio_claim(UK_VIRTIO_ID_RNG, 0, 0, &again) == UK_ENOENT);
    return 0;
}
