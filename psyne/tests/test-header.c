/* SPDX-License-Identifier: MIT */
/* psyne.h compiles alone, as ISO C11 with pedantic errors: built with -std=c11. */
#include "psyne.h"

int main(void)
{
	struct psyne_msg m = { 0 };
	struct psyne_stats st = { 0 };
	struct psyne_udp_stats u = { 0 };

	_Static_assert(sizeof(struct psyne_udp_stats) == 128, "psyne_udp_stats abi");
	return (int)(m.size + st.capacity + u.received) + (psyne_strerror(0) ? 0 : 1);
}
