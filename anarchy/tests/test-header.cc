// SPDX-License-Identifier: MIT
// anarchy.h compiles alone as C++ and links against the C library (extern "C").
#include "anarchy.h"

int main()
{
	anarchy_link_info info = {};
	anarchy_link *link = nullptr;
	int r = anarchy_link_open("/nonexistent/anarchy", 0, &link);
	return r < 0 && !link && info.state == ANARCHY_LINK_DOWN ? 0 : 1;
}
