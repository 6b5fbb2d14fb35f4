// SPDX-License-Identifier: MIT
// psyne.h compiles alone as C++ and links against the C library (extern "C").
#include "psyne.h"

int main()
{
	psyne_msg m = {};
	psyne_udp_stats u = {};
	psyne_channel *ch = nullptr;
	if (psyne_open("memory://cxx", &ch) != 0 || !ch)
		return 1;
	bool ok = psyne_channel_udp_stats(ch, &u) < 0; // not a udp:// handle
	psyne_close(ch);
	return ok ? int(m.size) : 1;
}
