/* SPDX-License-Identifier: MIT */
/* The `egpu` verb family (the anarchy eGPU link), as the top table in main.c sees it. */
#ifndef GC_EGPU_EGPU_H
#define GC_EGPU_EGPU_H

#include "verb.h"

#define GC_EGPU_DESCRIPTION                                                                        \
	"The eGPU link: the anarchy module's host-to-host Thunderbolt links (/dev/anarchyN),\n"    \
	"simulated ones included. LINK is N, anarchyN or /dev/anarchyN."

#define GC_EGPU_N_VERBS 6
extern const struct gc_verb gc_egpu_verbs[GC_EGPU_N_VERBS];

#endif
