/*
 * Names the demo workload exports for debugger and tracer demos: a
 * function called for every work item and counters it writes.
 */
#ifndef UK_DEMO_H
#define UK_DEMO_H

#include <stdint.h>

extern volatile uint64_t demo_iterations;
extern volatile uint64_t demo_primes_found;
unsigned demo_work_item(unsigned v);

#endif
