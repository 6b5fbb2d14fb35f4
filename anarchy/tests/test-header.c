/* SPDX-License-Identifier: MIT */
/*
 * anarchy.h (and the UAPI header it includes) compiles alone as ISO C11 with pedantic
 * errors, and the UAPI layouts are the pinned ones: the same on 32- and 64-bit, every
 * 64-bit field 8-byte aligned (compat_ptr_ioctl passes them through unchanged).
 */
#include <stddef.h>

#include "anarchy.h"

_Static_assert(sizeof(struct anarchy_version) == 56, "anarchy_version");
_Static_assert(sizeof(struct anarchy_gpu) == 128, "anarchy_gpu");
_Static_assert(offsetof(struct anarchy_gpu, vram_bytes) == 96, "anarchy_gpu.vram_bytes");
_Static_assert(sizeof(struct anarchy_counters) == 160, "anarchy_counters");
_Static_assert(sizeof(struct anarchy_link_info) == 856, "anarchy_link_info");
_Static_assert(offsetof(struct anarchy_link_info, far_uuid) == 40, "link_info.far_uuid");
_Static_assert(offsetof(struct anarchy_link_info, gpus) == 120, "link_info.gpus");
_Static_assert(offsetof(struct anarchy_link_info, counters) == 632, "link_info.counters");
_Static_assert(sizeof(struct anarchy_params) == 48, "anarchy_params");
_Static_assert(sizeof(struct anarchy_ring_setup) == 64, "anarchy_ring_setup");
_Static_assert(offsetof(struct anarchy_ring_setup, tx_offset) == 8, "ring_setup.tx_offset");
_Static_assert(sizeof(struct anarchy_connect) == 32, "anarchy_connect");
_Static_assert(sizeof(struct anarchy_ring_header) == 192, "anarchy_ring_header");
_Static_assert(offsetof(struct anarchy_ring_header, head) == 64, "ring_header.head");
_Static_assert(offsetof(struct anarchy_ring_header, tail) == 128, "ring_header.tail");
_Static_assert(sizeof(struct anarchy_record) == 8, "anarchy_record");
_Static_assert(sizeof(struct anarchy_event) == 48, "anarchy_event");
_Static_assert(offsetof(struct anarchy_event, value) == 32, "anarchy_event.value");

int main(void)
{
	struct anarchy_link *link = NULL;

	/* Linked against the shared library: the symbols are exported. */
	return anarchy_link_close(link) == NULL && anarchy_link_max_record(link) == 0 &&
			       anarchy_state_to_string(ANARCHY_LINK_UP)[0] == 'u' ?
		       0 :
		       1;
}
