// SPDX-License-Identifier: MIT
// psyne.h compiles alone as C++ and links against the C library (extern "C").
#include "psyne.h"

int main()
{
	psyne_msg m = {};
	psyne_channel *ch = nullptr;
	return psyne_open("memory://cxx", &ch) == 0 && ch ? (psyne_close(ch), int(m.size)) : 1;
}
