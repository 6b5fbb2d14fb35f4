/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/macro.h"
#include "log.h"
#include "tls.h"

#define PSK_MAX 64u
#define PSK_MIN 16u /* 128 bits */
#define PSK_IDENTITY_MAX 128u

struct psyne_tls_ctx {
	SSL_CTX *ssl_ctx;
	bool listener;
	char host[256];
	bool host_is_ip;
	uint8_t psk[PSK_MAX];
	size_t psk_len;
	char psk_identity[PSK_IDENTITY_MAX + 1];
	bool peer_certified; /* a listener requires a certificate its CAs signed */
};

struct psyne_tls {
	SSL *ssl;
};

/* TLS_AES_128_GCM_SHA256, the suite an external PSK is bound to. */
static const unsigned char psk_cipher_id[2] = { 0x13, 0x01 };

static void last_error(char *buf, size_t size)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0) {
		snprintf(buf, size, "unknown TLS error");
		return;
	}
	ERR_error_string_n(e, buf, size);
}

static SSL_SESSION *psk_session(SSL *ssl, const struct psyne_tls_ctx *c)
{
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, psk_cipher_id);
	SSL_SESSION *s;

	if (!cipher)
		return NULL;
	s = SSL_SESSION_new();
	if (!s)
		return NULL;
	if (!SSL_SESSION_set1_master_key(s, c->psk, c->psk_len) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

static int psk_use(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		   SSL_SESSION **sess)
{
	const struct psyne_tls_ctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	SSL_SESSION *s = psk_session(ssl, c);

	if (!s)
		return 0;
	if (md && SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s)) != md) {
		/* Another suite was negotiated: offer no PSK rather than a wrong one. */
		SSL_SESSION_free(s);
		*sess = NULL;
		return 1;
	}
	*id = (const unsigned char *)c->psk_identity;
	*idlen = strlen(c->psk_identity);
	*sess = s;
	return 1;
}

static int psk_find(SSL *ssl, const unsigned char *identity, size_t identity_len,
		    SSL_SESSION **sess)
{
	const struct psyne_tls_ctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	if (identity_len != strlen(c->psk_identity) ||
	    memcmp(identity, c->psk_identity, identity_len) != 0) {
		psyne__log_warning("TLS peer offered unknown PSK identity '%.*s'",
				   (int)MIN(identity_len, (size_t)PSK_IDENTITY_MAX),
				   (const char *)identity);
		*sess = NULL;
		return 1; /* no match: the handshake fails for want of a key */
	}
	*sess = psk_session(ssl, c);
	return *sess ? 1 : 0;
}

/* A PSK dialer's verify callback: a certificate, whatever it is, is not the key. */
static int refuse_certificate(int preverify_ok, X509_STORE_CTX *ctx)
{
	X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *ret_len)
{
	size_t n = strlen(s);

	if (n % 2 != 0 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	*ret_len = n / 2;
	return 0;
}

/* A file OpenSSL is about to read: its own error for a missing one names no file reason. */
static int check_readable(const char *what, const char *path)
{
	if (access(path, R_OK) < 0) {
		int r = -errno;

		psyne__log_error("tls: cannot load %s %s: %s", what, path, strerror(-r));
		return -EINVAL;
	}
	return 0;
}

static int load_files(struct psyne_tls_ctx *c, const char *cert, const char *key, const char *ca)
{
	char err[256];

	if ((cert && check_readable("certificate", cert) < 0) ||
	    (key && check_readable("private key", key) < 0) ||
	    (ca && check_readable("CA certificates", ca) < 0))
		return -EINVAL;

	if (cert && SSL_CTX_use_certificate_chain_file(c->ssl_ctx, cert) != 1) {
		last_error(err, sizeof(err));
		psyne__log_error("tls: cannot load certificate %s: %s", cert, err);
		return -EINVAL;
	}
	if (key && (SSL_CTX_use_PrivateKey_file(c->ssl_ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(c->ssl_ctx) != 1)) {
		last_error(err, sizeof(err));
		psyne__log_error("tls: cannot use private key %s: %s", key, err);
		return -EINVAL;
	}
	if (ca && SSL_CTX_load_verify_locations(c->ssl_ctx, ca, NULL) != 1) {
		last_error(err, sizeof(err));
		psyne__log_error("tls: cannot load CA certificates %s: %s", ca, err);
		return -EINVAL;
	}
	return 0;
}

int psyne__tls_ctx_new(const struct psyne_tls_options *o, bool listener, const char *host,
		       struct psyne_tls_ctx **ret)
{
	const char *cert = o->cert, *key = o->key, *ca = o->ca, *psk = o->psk;
	const char *identity = o->psk_identity;
	struct psyne_tls_ctx *c;
	unsigned char ip[16];
	int r;

	if (psk && (cert || key || ca || o->verify_given)) {
		psyne__log_error("tls: psk= replaces certificates: leave out cert=, key=, ca= and "
				 "verify=");
		return -EINVAL;
	}
	if ((cert && !key) || (key && !cert)) {
		psyne__log_error("tls: cert= and key= go together");
		return -EINVAL;
	}
	if (!psk && listener && !cert) {
		psyne__log_error("tls: a listener needs cert= and key=, or psk=");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->listener = listener;
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->host_is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	snprintf(c->psk_identity, sizeof(c->psk_identity), "%s", identity ? identity : "psyne");
	if (identity && (strlen(identity) == 0 || strlen(identity) > PSK_IDENTITY_MAX)) {
		psyne__log_error("tls: psk_identity= is 1 to %u bytes", PSK_IDENTITY_MAX);
		r = -EINVAL;
		goto fail;
	}
	if (psk && (parse_hex(psk, c->psk, PSK_MAX, &c->psk_len) < 0 || c->psk_len < PSK_MIN)) {
		psyne__log_error("tls: psk= is %u to %u bytes in hex", PSK_MIN, PSK_MAX);
		r = -EINVAL;
		goto fail;
	}

	c->ssl_ctx = SSL_CTX_new(listener ? TLS_server_method() : TLS_client_method());
	if (!c->ssl_ctx) {
		r = -ENOMEM;
		goto fail;
	}
	SSL_CTX_set_app_data(c->ssl_ctx, c);
	SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(c->ssl_ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Sessions are psyne's, not TLS's: no tickets, so the server never writes unasked. */
	SSL_CTX_set_options(c->ssl_ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (listener)
		SSL_CTX_set_num_tickets(c->ssl_ctx, 0);

	r = load_files(c, cert, key, ca);
	if (r < 0)
		goto fail;
	if (psk) {
		/* An external PSK is bound to one hash (SHA-256 here): the server must not pick
		 * a suite of another, or it ignores the key and asks for a certificate. */
		if (SSL_CTX_set_ciphersuites(c->ssl_ctx, "TLS_AES_128_GCM_SHA256:"
							 "TLS_CHACHA20_POLY1305_SHA256") != 1) {
			r = -EPROTO;
			goto fail;
		}
		if (listener) {
			SSL_CTX_set_psk_find_session_callback(c->ssl_ctx, psk_find);
		} else {
			SSL_CTX_set_psk_use_session_callback(c->ssl_ctx, psk_use);
			/* A listener that shows a certificate instead has not proved the key. */
			SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, refuse_certificate);
		}
	}
	if (listener) {
		/* A CA means: dialers must show a certificate it signed. */
		if (ca) {
			SSL_CTX_set_verify(c->ssl_ctx,
					   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
			c->peer_certified = true;
		}
	} else if (!psk) {
		if (!o->verify) {
			psyne__log_warning(
				"tls: verify=0: the listener's certificate is not checked");
		} else {
			if (!ca && SSL_CTX_set_default_verify_paths(c->ssl_ctx) != 1) {
				r = -EPROTO;
				goto fail;
			}
			SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
		}
	}
	*ret = c;
	return 0;
fail:
	psyne__tls_ctx_free(c);
	return r;
}

bool psyne__tls_ctx_authenticates_peer(const struct psyne_tls_ctx *c)
{
	return c && c->listener && (c->peer_certified || c->psk_len > 0);
}

void psyne__tls_ctx_free(struct psyne_tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ssl_ctx);
	explicit_bzero(c->psk, sizeof(c->psk));
	free(c);
}

/*
 * OpenSSL's socket BIO writes with write(): a peer that closed would raise SIGPIPE in the
 * caller's process. This one sends with MSG_NOSIGNAL, and is otherwise the plain thing.
 */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int nosig_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int nosig_write(BIO *b, const char *buf, int len)
{
	ssize_t n = send(nosig_fd(b), buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int nosig_read(BIO *b, char *buf, int len)
{
	ssize_t n = recv(nosig_fd(b), buf, (size_t)len, MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int nosig_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void nosig_setup(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "psyne socket");

	if (!m || !BIO_meth_set_write(m, nosig_write) || !BIO_meth_set_read(m, nosig_read) ||
	    !BIO_meth_set_ctrl(m, nosig_ctrl) || !BIO_meth_set_create(m, nosig_create)) {
		BIO_meth_free(m);
		return;
	}
	nosig_method = m;
}

int psyne__tls_new(struct psyne_tls_ctx *c, int fd, struct psyne_tls **ret)
{
	struct psyne_tls *t = calloc(1, sizeof(*t));
	BIO *bio;

	if (!t)
		return -ENOMEM;
	pthread_once(&nosig_once, nosig_setup);
	t->ssl = SSL_new(c->ssl_ctx);
	bio = nosig_method ? BIO_new(nosig_method) : NULL;
	if (!t->ssl || !bio) {
		BIO_free(bio);
		psyne__tls_free(t);
		return -ENOMEM;
	}
	BIO_set_data(bio, (void *)(intptr_t)fd);
	SSL_set_bio(t->ssl, bio, bio); /* one reference, taken by the SSL object */
	if (c->listener) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (c->host_is_ip) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), c->host) != 1) {
				psyne__tls_free(t);
				return -EINVAL;
			}
		} else if (SSL_set1_host(t->ssl, c->host) != 1 ||
			   SSL_set_tlsext_host_name(t->ssl, c->host) != 1) {
			psyne__tls_free(t);
			return -EINVAL;
		}
	}
	*ret = t;
	return 0;
}

void psyne__tls_free(struct psyne_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t);
}

int psyne__tls_handshake(struct psyne_tls *t, short *ret_want, char *reason, size_t size)
{
	int r, e;
	long v;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		const struct psyne_tls_ctx *c = SSL_CTX_get_app_data(SSL_get_SSL_CTX(t->ssl));

		/* With a key, both sides must have proved it: a session made without the PSK
		 * (certificates, or none) authenticated nobody. */
		if (c->psk_len > 0 && !SSL_session_reused(t->ssl)) {
			snprintf(reason, size, "the peer did not prove the pre-shared key");
			return -EACCES;
		}
		return 0;
	}
	e = SSL_get_error(t->ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		*ret_want = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*ret_want = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_SYSCALL:
		snprintf(reason, size, "connection closed during the TLS handshake");
		return errno != 0 ? -errno : -ECONNRESET;
	default:
		break;
	}
	v = SSL_get_verify_result(t->ssl);
	if (v != X509_V_OK)
		snprintf(reason, size, "certificate verification failed: %s",
			 X509_verify_cert_error_string(v));
	else
		last_error(reason, size);
	/* Whatever else failed in a handshake, the peer could not be authenticated. */
	return -EACCES;
}

ssize_t psyne__tls_read(struct psyne_tls *t, void *buf, size_t len)
{
	size_t n = 0;
	int e;

	ERR_clear_error();
	if (SSL_read_ex(t->ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	e = SSL_get_error(t->ssl, 0);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		return errno != 0 ? -errno : 0;
	default:
		return -EPROTO; /* a record failed its check: the stream cannot be trusted */
	}
}

ssize_t psyne__tls_writev(struct psyne_tls *t, const struct iovec *iov, int n)
{
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		size_t w = 0;
		int e;

		ERR_clear_error();
		if (SSL_write_ex(t->ssl, iov[i].iov_base, iov[i].iov_len, &w) == 1) {
			total += w;
			if (w < iov[i].iov_len)
				break;
			continue;
		}
		e = SSL_get_error(t->ssl, 0);
		if (total > 0)
			break;
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return -EAGAIN;
		if (e == SSL_ERROR_SYSCALL && errno != 0)
			return -errno;
		return -EPIPE;
	}
	return (ssize_t)total;
}

bool psyne__tls_pending(struct psyne_tls *t)
{
	return SSL_pending(t->ssl) > 0;
}
