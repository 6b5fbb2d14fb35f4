/* SPDX-License-Identifier: MIT */
/*
 * tls:// over loopback: certificates made for the test by the openssl tool (a CA, a
 * listener certificate for localhost and 127.0.0.1, a dialer certificate, and a second CA
 * nobody trusts), pre-shared keys, and every way authentication can fail: each must be
 * refused, with the dialer's open failing -EACCES.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/tests.h"
#include "psyne.h"

static char dir[64];

static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_OK_ERRNO(fd);
	ASSERT_OK_ERRNO(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_OK_ERRNO(getsockname(fd, (struct sockaddr *)&a, &len));
	close(fd);
	return ntohs(a.sin_port);
}

static void sh(const char *fmt, ...) _printf_(1, 2);
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ASSERT_EQ(system(cmd), 0);
}

/* A CA, and NAME's key and certificate signed by it, with `san` as subjectAltName. */
static void make_certs(void)
{
	snprintf(dir, sizeof(dir), "/tmp/psyne-tls-%d", getpid());
	sh("mkdir -p %s", dir);
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
	for (int i = 0; i < 2; i++) {
		const char *ca = i == 0 ? "ca" : "rogue";

		sh("cd %s && openssl req -x509 %s -keyout %s.key -out %s.crt -days 2 "
		   "-subj /CN=psyne-test-%s 2>/dev/null",
		   dir, ec, ca, ca, ca);
	}
	struct {
		const char *name, *ca, *san;
	} certs[] = {
		{ "server", "ca", "DNS:localhost,IP:127.0.0.1" },
		{ "client", "ca", "DNS:psyne-client" },
		{ "impostor", "rogue", "DNS:localhost,IP:127.0.0.1" },
		{ "elsewhere", "ca", "DNS:elsewhere.example" },
	};
	for (size_t i = 0; i < ELEMENTSOF(certs); i++)
		sh("cd %s && openssl req %s -keyout %s.key -out %s.csr -subj /CN=%s 2>/dev/null && "
		   "printf 'subjectAltName=%s\\n' > %s.ext && "
		   "openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -CAcreateserial "
		   "-out %s.crt -days 2 -extfile %s.ext 2>/dev/null",
		   dir, ec, certs[i].name, certs[i].name, certs[i].name, certs[i].san,
		   certs[i].name, certs[i].name, certs[i].ca, certs[i].ca, certs[i].name,
		   certs[i].name);
}

static void remove_certs(void)
{
	sh("rm -rf %s", dir);
}

struct talk {
	char uri[512];
	int error;
	uint32_t count;
};

static void *dial_and_send(void *arg)
{
	struct talk *t = arg;
	struct psyne_channel *ch = NULL;

	t->error = psyne_open(t->uri, &ch);
	if (t->error < 0)
		return NULL;
	for (uint32_t i = 0; i < t->count && t->error == 0; i++) {
		char buf[64];
		int n = snprintf(buf, sizeof(buf), "message %u", i);

		t->error = psyne_send(ch, buf, (size_t)n, i, 10000);
	}
	psyne_close(ch);
	return NULL;
}

/* Listener `lopts`, dialer `dopts`: either messages flow, or the dialer gets `error`. */
static void session(const char *lopts, const char *dopts, int error)
{
	char l[512];
	unsigned port = free_port();
	struct psyne_channel *lc = NULL;
	struct talk t = { .count = 1000 };
	pthread_t th;

	snprintf(l, sizeof(l), "tls://127.0.0.1:%u?listen&%s", port, lopts);
	snprintf(t.uri, sizeof(t.uri), "tls://%s:%u?connect_timeout=3000&%s",
		 strstr(dopts, "host=localhost") ? "localhost" : "127.0.0.1", port,
		 strstr(dopts, "host=localhost") ? dopts + strlen("host=localhost&") : dopts);
	ASSERT_OK(psyne_open(l, &lc));
	ASSERT_OK_ZERO(pthread_create(&th, NULL, dial_and_send, &t));
	if (error == 0) {
		for (uint32_t i = 0; i < t.count; i++) {
			char buf[64], want[64];
			uint32_t type;
			int n = psyne_recv(lc, buf, sizeof(buf), &type, 10000);

			ASSERT_EQ(n, snprintf(want, sizeof(want), "message %u", i));
			ASSERT_MEMEQ(buf, want, (size_t)n);
			ASSERT_EQ(type, i);
		}
		char buf[8];
		ASSERT_ERROR(psyne_recv(lc, buf, sizeof(buf), NULL, 10000), EPIPE);
	}
	ASSERT_OK_ZERO(pthread_join(th, NULL));
	ASSERT_EQ(t.error, error);
	if (error != 0) {
		char buf[8];
		ASSERT_ERROR(psyne_recv(lc, buf, sizeof(buf), NULL, 0), EAGAIN); /* nothing came */
	}
	psyne_close(lc);
}

#define CERT(name) "cert=%s/" name ".crt&key=%s/" name ".key"

static void with_certs(const char *lfmt, const char *dfmt, int error)
{
	char lopts[512], dopts[512];

	make_certs();
	snprintf(lopts, sizeof(lopts), lfmt, dir, dir, dir);
	snprintf(dopts, sizeof(dopts), dfmt, dir, dir, dir);
	session(lopts, dopts, error);
	remove_certs();
}

TEST(certificate)
{
	with_certs(CERT("server"), "ca=%s/ca.crt", 0);
}

TEST(certificate_by_name)
{
	with_certs(CERT("server"), "host=localhost&ca=%s/ca.crt", 0);
}

TEST(certificate_untrusted)
{
	with_certs(CERT("impostor"), "ca=%s/ca.crt", -EACCES);
}

TEST(certificate_wrong_name)
{
	with_certs(CERT("elsewhere"), "ca=%s/ca.crt", -EACCES);
}

TEST(mutual)
{
	with_certs(CERT("server") "&ca=%s/ca.crt", "ca=%s/ca.crt&" CERT("client"), 0);
}

TEST(mutual_without_certificate)
{
	with_certs(CERT("server") "&ca=%s/ca.crt", "ca=%s/ca.crt", -EACCES);
}

TEST(mutual_untrusted_certificate)
{
	with_certs(CERT("server") "&ca=%s/ca.crt", "ca=%s/ca.crt&" CERT("impostor"), -EACCES);
}

#define KEY1 "00112233445566778899aabbccddeeff"
#define KEY2 "ffeeddccbbaa99887766554433221100"

TEST(psk)
{
	session("psk=" KEY1, "psk=" KEY1, 0);
}

TEST(psk_identity)
{
	session("psk=" KEY1 "&psk_identity=node-7", "psk=" KEY1 "&psk_identity=node-7", 0);
}

TEST(psk_wrong_key)
{
	session("psk=" KEY1, "psk=" KEY2, -EACCES);
}

TEST(psk_wrong_identity)
{
	session("psk=" KEY1 "&psk_identity=a", "psk=" KEY1 "&psk_identity=b", -EACCES);
}

/* A PSK dialer meets a listener that shows a certificate (even one it could verify) and
 * does not know the key: it must refuse, before any of its messages leave. */
TEST(psk_dialer_refuses_a_listener_without_the_key)
{
	with_certs(CERT("server"), "psk=" KEY1, -EACCES);
}

TEST(bad_options)
{
	struct psyne_channel *ch = NULL;

	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?listen", &ch), EINVAL);   /* no credentials */
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?psk=0011", &ch), EINVAL); /* too short */
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?psk=zz112233445566778899aabbccddeeff", &ch),
		     EINVAL);
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?cert=/nonexistent.crt", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?listen&cert=/nonexistent&key=/nonexistent", &ch),
		     EINVAL);
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?verify=2&psk=" KEY1, &ch), EINVAL);
	/* A key replaces certificates; both would leave it unclear what is checked. */
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?ca=/etc/ssl/certs/ca-certificates.crt&psk=" KEY1,
				&ch),
		     EINVAL);
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?verify=0&psk=" KEY1, &ch), EINVAL);
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?listen&cert=/a&key=/b&psk=" KEY1, &ch), EINVAL);
	/* verify= is the dialer's; TLS options belong to tls:// alone. */
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?listen&verify=0&psk=" KEY1, &ch), EINVAL);
	ASSERT_ERROR(psyne_open("tls://127.0.0.1:1?psk=" KEY1 "&psk_identity=", &ch), EINVAL);
	ASSERT_ERROR(psyne_open("tcp://127.0.0.1:1?psk=" KEY1, &ch), EINVAL);
	ASSERT_ERROR(psyne_open("unix://@x?ca=/etc/ssl/certs/ca-certificates.crt", &ch), EINVAL);
	ASSERT_NULL(ch);
}

/*
 * A handshake that authenticates the dialer (here by the pre-shared key) is proof enough:
 * the session counts against max_peers at once, so an spsc listener refuses a second
 * dialer while the first has sent nothing yet.
 */
TEST(an_authenticated_session_takes_its_place_at_once)
{
	char l[160], d[160];
	unsigned port = free_port();
	struct psyne_channel *lc = NULL, *first = NULL, *ch = NULL;

	snprintf(l, sizeof(l), "tls://127.0.0.1:%u?listen&psk=" KEY1, port);
	snprintf(d, sizeof(d), "tls://127.0.0.1:%u?psk=" KEY1, port);
	ASSERT_OK(psyne_open(l, &lc));
	ASSERT_OK(psyne_open(d, &first));
	ASSERT_ERROR(psyne_open(d, &ch), EBUSY);
	psyne_close(first);
	psyne_close(lc);
}

/* A plain tcp:// dialer at a tls:// listener is refused; the listener goes on serving. */
TEST(plain_dialer_refused)
{
	char l[128], d[128];
	unsigned port = free_port();
	struct psyne_channel *lc = NULL, *ch = NULL;
	struct talk t = { .count = 10 };
	pthread_t th;

	snprintf(l, sizeof(l), "tls://127.0.0.1:%u?listen&psk=" KEY1, port);
	snprintf(d, sizeof(d), "tcp://127.0.0.1:%u?connect_timeout=1000", port);
	ASSERT_OK(psyne_open(l, &lc));
	ASSERT_LT(psyne_open(d, &ch), 0);
	snprintf(t.uri, sizeof(t.uri), "tls://127.0.0.1:%u?psk=" KEY1, port);
	ASSERT_OK_ZERO(pthread_create(&th, NULL, dial_and_send, &t));
	for (uint32_t i = 0; i < t.count; i++) {
		char buf[64];

		ASSERT_GT(psyne_recv(lc, buf, sizeof(buf), NULL, 10000), 0);
	}
	ASSERT_OK_ZERO(pthread_join(th, NULL));
	ASSERT_EQ(t.error, 0);
	psyne_close(lc);
}

DEFINE_TEST_MAIN();
