/*
 * The collector's side of RELP forwarding (collectd/relpfwd.[ch], another
 * module): when built with it (HAVE_RELPFWD) every stored record is handed
 * to relpfwd_submit and its counters are exported; otherwise nothing.
 */
#include <stdio.h>

#include "cd.h"

void prom_relp(FILE *o);

#ifndef HAVE_RELPFWD
void prom_relp(FILE *o)
{
    (void)o;
}
#endif
