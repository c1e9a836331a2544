/* `ukctl trace --fleet` (host-collector/ukctl/trace_fleet.c). */
#ifndef TRACE_FLEET_H
#define TRACE_FLEET_H

int trace_fleet_main(int argc, char **argv);

#endif
