/* SPDX-License-Identifier: MIT */
/* psyne.h compiles alone, as ISO C11 with pedantic errors: built with -std=c11. */
#include "psyne.h"

int main(void)
{
	struct psyne_msg m = { 0 };
	struct psyne_stats st = { 0 };

	return (int)(m.size + st.capacity) + (psyne_strerror(0) ? 0 : 1);
}
