#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// Several OpenSSL calls are macros over SSL_CTX_ctrl / BIO_ctrl, which Swift cannot call; these wrap them.
static inline int tw_ssl_ctx_set_min_proto_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

static inline uint64_t tw_ssl_ctx_set_options(SSL_CTX *ctx) {
    return SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
}

static inline long tw_bio_pending(BIO *bio) {
    return (long)BIO_ctrl_pending(bio);
}

static inline void tw_bio_set_mem_eof_return(BIO *bio) {
    // An empty memory BIO reports "retry" (not EOF) so SSL_read asks for more bytes instead of failing.
    BIO_set_mem_eof_return(bio, -1);
}

static inline STACK_OF(GENERAL_NAME) *tw_peer_alt_names(X509 *cert) {
    return (STACK_OF(GENERAL_NAME) *)X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
}

static inline int tw_general_names_count(STACK_OF(GENERAL_NAME) *names) {
    return sk_GENERAL_NAME_num(names);
}

static inline GENERAL_NAME *tw_general_names_value(STACK_OF(GENERAL_NAME) *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}

static inline void tw_general_names_free(STACK_OF(GENERAL_NAME) *names) {
    GENERAL_NAMES_free(names);
}

// XN_FLAG_RFC2253 is a composite macro Swift does not import.
static inline int tw_name_print_rfc2253(BIO *bio, const X509_NAME *name) {
    return X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
}

static inline STACK_OF(X509_NAME) *tw_load_client_ca_names(const char *path) {
    return SSL_load_client_CA_file(path);
}

// The client's expected server name: an IP literal is checked against the IP SANs, anything else against the DNS
// names (and sent as SNI). Returns 1 on success.
static inline int tw_ssl_set_expected_host(SSL *ssl, const char *name) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1) return 1;
    if (SSL_set_tlsext_host_name(ssl, name) != 1) return 0;
    return SSL_set1_host(ssl, name);
}
#endif
