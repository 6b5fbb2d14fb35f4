/* SPDX-License-Identifier: MIT */
/*
 * What users type and tools print that environment detection parses: PCI addresses
 * (`vm --pci`, `doctor`), USB ids (`vm --usb`), the NVIDIA and QEMU version lines, display
 * names. Any input must give a clean -EINVAL or a value that reads back the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pci(const char *s)
{
	char a[GC_PCI_ADDRESS_MAX], b[GC_PCI_ADDRESS_MAX];

	if (gc_pci_address_parse(s, a) != 0)
		return;
	/* The canonical form is a fixed point, and never longer than the input. */
	if (gc_pci_address_parse(a, b) != 0 || strcmp(a, b) != 0 || strlen(a) > strlen(s) + 5)
		abort();
}

static void check_usb(const char *s)
{
	uint16_t vendor, product, v, p;
	char back[16];

	if (gc_usb_id_parse(s, &vendor, &product) != 0)
		return;
	(void)snprintf(back, sizeof(back), "%04x:%04x", vendor, product);
	if (strcasecmp(back, s) != 0 || gc_usb_id_parse(back, &v, &p) != 0 || v != vendor ||
	    p != product)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum gc_display display;
	char *s, *version;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	check_pci(s);
	check_usb(s);
	if (gc_nvidia_version_parse(s, &version) == 0) {
		if (!strstr(s, version))
			abort();
		free(version);
	}
	if (gc_qemu_version_parse(s, &version) == 0) {
		if (!strstr(s, version))
			abort();
		free(version);
	}
	if (gc_display_from_string(s, &display) == 0 &&
	    strcmp(gc_display_to_string(display), s) != 0)
		abort();
	free(s);
	return 0;
}
