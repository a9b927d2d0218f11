/*
 * A stand-in for a MongoDB driver's KMIP transport: libmongocrypt's kms_message builds MongoDB's
 * KMIP requests and parses the answers; this program carries them over mutual TLS, the part a
 * driver (libmongoc, PyMongo, ...) does itself. Like those drivers it opens a new TLS connection
 * per request and checks the server's certificate and host name against the CA.
 *
 * Usage: kmip_driver HOST PORT CA_PEM CERT_PEM KEY_PEM MODE [ARG]
 *   flow-a        Register a 96-byte Secret Data, Activate it, Get it, compare the bytes: the
 *                 KMIP 1.0 path, every request and every answer through kms_message.
 *   activate UID  kms_message's Activate request (libmongocrypt sends it after Create too).
 *   get UID       kms_message's Get request; prints the Secret Data's bytes as kms_message reads
 *                 them (for a Secret Data registered in another form than 1.7.2's).
 *   send HEX      send request bytes built elsewhere (Debian's kms_message 1.7.2 has no
 *                 Create/Encrypt/Decrypt builders) and print the answer's bytes; framed by
 *                 kms_message's KMIP response parser, Result Status checked by kms_message.
 *
 * Prints one JSON line per step: {"step": NAME, "ok": true|false, "value"|"error": ...}.
 * Exit status 0 whenever the steps ran (a failed step is reported, not an exit status);
 * 2 for bad usage.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <kms_message/kms_message.h>

struct endpoint {
   const char *host;
   int port;
   const char *ca, *cert, *key;
};

/* ---- JSON output ---- */

static void print_json_string (const char *s)
{
   putchar ('"');
   for (; *s; s++) {
      unsigned char c = (unsigned char) *s;
      if (c == '"' || c == '\\')
         printf ("\\%c", c);
      else if (c < 0x20)
         printf ("\\u%04x", c);
      else
         putchar (c);
   }
   putchar ('"');
}

static void step_ok (const char *step, const char *value)
{
   printf ("{\"step\":");
   print_json_string (step);
   printf (",\"ok\":true,\"value\":");
   print_json_string (value);
   printf ("}\n");
   fflush (stdout);
}

static void step_fail (const char *step, const char *error)
{
   printf ("{\"step\":");
   print_json_string (step);
   printf (",\"ok\":false,\"error\":");
   print_json_string (error ? error : "(no message)");
   printf ("}\n");
   fflush (stdout);
}

static char *to_hex (const uint8_t *buf, size_t len)
{
   char *out = malloc (len * 2 + 1);
   for (size_t i = 0; i < len; i++)
      sprintf (out + 2 * i, "%02x", buf[i]);
   out[len * 2] = '\0';
   return out;
}

static uint8_t *from_hex (const char *hex, size_t *len)
{
   size_t n = strlen (hex);
   if (n % 2)
      return NULL;
   uint8_t *out = malloc (n / 2 + 1);
   for (size_t i = 0; i < n / 2; i++) {
      unsigned int b;
      if (!isxdigit ((unsigned char) hex[2 * i]) || !isxdigit ((unsigned char) hex[2 * i + 1]) ||
          sscanf (hex + 2 * i, "%2x", &b) != 1) {
         free (out);
         return NULL;
      }
      out[i] = (uint8_t) b;
   }
   *len = n / 2;
   return out;
}

/* ---- transport ---- */

/* OpenSSL's error queue as one line, for the step's error. */
static void ssl_error (char *buf, size_t size, const char *what)
{
   unsigned long e = ERR_get_error ();
   char reason[256] = "";
   if (e)
      ERR_error_string_n (e, reason, sizeof reason);
   snprintf (buf, size, "%s: %s", what, e ? reason : "connection closed");
   ERR_clear_error ();
}

/* The bytes of one answer, kept beside the parser: kms_message 1.7.2 has no accessor for them. */
struct raw_answer {
   uint8_t *bytes;
   size_t len;
};

/*
 * One request, one TLS connection: connect, handshake (verifying the server's chain and its
 * host name or IP address), write the request, read exactly one KMIP message as kms_message's
 * parser asks for it. Returns the parsed response, or NULL with `err` filled in; `raw`, when
 * given, receives a copy of the answer's bytes.
 */
static kms_response_t *round_trip (const struct endpoint *ep, const uint8_t *req, size_t req_len, char *err, size_t err_size,
                                   struct raw_answer *raw)
{
   kms_response_t *res = NULL;
   kms_response_parser_t *parser = kms_kmip_response_parser_new (NULL);
   SSL_CTX *ctx = SSL_CTX_new (TLS_client_method ());
   SSL *ssl = NULL;
   int fd = -1;

   SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
   if (SSL_CTX_load_verify_locations (ctx, ep->ca, NULL) != 1 ||
       SSL_CTX_use_certificate_chain_file (ctx, ep->cert) != 1 ||
       SSL_CTX_use_PrivateKey_file (ctx, ep->key, SSL_FILETYPE_PEM) != 1) {
      ssl_error (err, err_size, "loading the CA, certificate or key");
      goto done;
   }
   SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER, NULL);

   struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) ep->port)};
   if (inet_pton (AF_INET, ep->host, &addr.sin_addr) != 1) {
      snprintf (err, err_size, "HOST must be an IPv4 address (the tests listen on loopback)");
      goto done;
   }
   fd = socket (AF_INET, SOCK_STREAM, 0);
   /* A server that never answers must not hang the test: bound every read and write. */
   struct timeval tv = {.tv_sec = 30};
   setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
   setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
   if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
      snprintf (err, err_size, "connect to %s:%d failed", ep->host, ep->port);
      goto done;
   }

   ssl = SSL_new (ctx);
   SSL_set_fd (ssl, fd);
   /* Host name check: the server certificate must name the address we dialled. */
   X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (ssl), ep->host);
   if (SSL_connect (ssl) != 1) {
      long v = SSL_get_verify_result (ssl);
      if (v != X509_V_OK)
         snprintf (err, err_size, "TLS handshake: certificate verify failed: %s", X509_verify_cert_error_string (v));
      else
         ssl_error (err, err_size, "TLS handshake");
      goto done;
   }

   if (SSL_write (ssl, req, (int) req_len) != (int) req_len) {
      ssl_error (err, err_size, "TLS write");
      goto done;
   }

   /* The parser first asks for the 8-byte TTLV header, then for exactly the rest of the message. */
   uint8_t buf[1024];
   int want;
   while ((want = kms_response_parser_wants_bytes (parser, (int32_t) sizeof buf)) > 0) {
      int n = SSL_read (ssl, buf, want);
      if (n <= 0) {
         ssl_error (err, err_size, "TLS read before the whole response arrived");
         goto done;
      }
      if (raw) {
         raw->bytes = realloc (raw->bytes, raw->len + (size_t) n);
         memcpy (raw->bytes + raw->len, buf, (size_t) n);
         raw->len += (size_t) n;
      }
      if (!kms_response_parser_feed (parser, buf, (uint32_t) n)) {
         snprintf (err, err_size, "kms_message parser: %s", kms_response_parser_error (parser));
         goto done;
      }
   }
   res = kms_response_parser_get_response (parser);
   if (!res)
      snprintf (err, err_size, "kms_message parser: %s", kms_response_parser_error (parser));

done:
   if (ssl) {
      SSL_shutdown (ssl);
      SSL_free (ssl);
   }
   if (fd >= 0)
      close (fd);
   SSL_CTX_free (ctx);
   kms_response_parser_destroy (parser);
   return res;
}

/* Sends a kms_message request; NULL (step already reported as failed) on any error. */
static kms_response_t *send_request (const struct endpoint *ep, const char *step, kms_request_t *req)
{
   char err[512];
   if (kms_request_get_error (req)) {
      step_fail (step, kms_request_get_error (req));
      kms_request_destroy (req);
      return NULL;
   }
   size_t len;
   const uint8_t *bytes = kms_request_to_bytes (req, &len);
   kms_response_t *res = round_trip (ep, bytes, len, err, sizeof err, NULL);
   kms_request_destroy (req);
   if (!res)
      step_fail (step, err);
   return res;
}

/*
 * The Unique Identifier of an answer, as libmongocrypt reads it after Register, Create and
 * Activate: kms_message also checks the Result Status and turns a failure into its error text.
 */
static char *answer_uid (const char *step, kms_response_t *res)
{
   char *uid = kms_kmip_response_get_unique_identifier (res);
   if (!uid)
      step_fail (step, kms_response_get_error (res));
   return uid;
}

/* ---- flows ---- */

static void flow_a (const struct endpoint *ep)
{
   uint8_t secret[KMS_KMIP_REQUEST_SECRETDATA_LENGTH];
   char *uid = NULL, *activated = NULL, *hex = NULL;
   uint8_t *got = NULL;
   kms_response_t *res;

   /* libmongocrypt registers 96 random bytes as its key-encryption material (a Secret Data). */
   RAND_bytes (secret, sizeof secret);
   res = send_request (ep, "register", kms_kmip_request_register_secretdata_new (NULL, secret, sizeof secret));
   if (!res)
      return;
   uid = answer_uid ("register", res);
   kms_response_destroy (res);
   if (!uid)
      return;
   step_ok ("register", uid);

   res = send_request (ep, "activate", kms_kmip_request_activate_new (NULL, uid));
   if (!res)
      goto done;
   activated = answer_uid ("activate", res);
   kms_response_destroy (res);
   if (!activated)
      goto done;
   step_ok ("activate", activated);

   res = send_request (ep, "get", kms_kmip_request_get_new (NULL, uid));
   if (!res)
      goto done;
   size_t got_len = 0;
   got = kms_kmip_response_get_secretdata (res, &got_len);
   if (!got) {
      step_fail ("get", kms_response_get_error (res));
      kms_response_destroy (res);
      goto done;
   }
   kms_response_destroy (res);
   hex = to_hex (got, got_len);
   step_ok ("get", hex);

   if (got_len == sizeof secret && memcmp (got, secret, sizeof secret) == 0)
      step_ok ("compare", "the bytes Get returned are the bytes registered");
   else
      step_fail ("compare", "the bytes Get returned differ from the bytes registered");

done:
   free (uid);
   free (activated);
   free (got);
   free (hex);
}

static void activate (const struct endpoint *ep, const char *uid)
{
   kms_response_t *res = send_request (ep, "activate", kms_kmip_request_activate_new (NULL, uid));
   if (!res)
      return;
   char *activated = answer_uid ("activate", res);
   kms_response_destroy (res);
   if (activated)
      step_ok ("activate", activated);
   free (activated);
}

static void get (const struct endpoint *ep, const char *uid)
{
   kms_response_t *res = send_request (ep, "get", kms_kmip_request_get_new (NULL, uid));
   if (!res)
      return;
   size_t len = 0;
   uint8_t *got = kms_kmip_response_get_secretdata (res, &len);
   if (got) {
      char *hex = to_hex (got, len);
      step_ok ("get", hex);
      free (hex);
   } else {
      step_fail ("get", kms_response_get_error (res));
   }
   free (got);
   kms_response_destroy (res);
}

static void send_hex (const struct endpoint *ep, const char *hex)
{
   char err[512];
   size_t len;
   uint8_t *req = from_hex (hex, &len);
   if (!req) {
      step_fail ("send", "the request is not hex");
      return;
   }
   struct raw_answer raw = {NULL, 0};
   kms_response_t *res = round_trip (ep, req, len, err, sizeof err, &raw);
   free (req);
   if (!res) {
      step_fail ("send", err);
      free (raw.bytes);
      return;
   }
   /* kms_message's own check of the Result Status, via the Unique Identifier every answer of
    * Create, Encrypt and Decrypt carries; the caller decodes the rest from the bytes. */
   char *uid = answer_uid ("send", res);
   if (uid) {
      char *answer_hex = to_hex (raw.bytes, raw.len);
      step_ok ("send", answer_hex);
      free (answer_hex);
   }
   free (uid);
   free (raw.bytes);
   kms_response_destroy (res);
}

int main (int argc, char **argv)
{
   if (argc < 7) {
      fprintf (stderr, "usage: %s HOST PORT CA_PEM CERT_PEM KEY_PEM flow-a|activate UID|get UID|send HEX\n", argv[0]);
      return 2;
   }
   struct endpoint ep = {argv[1], atoi (argv[2]), argv[3], argv[4], argv[5]};
   const char *mode = argv[6];
   if (strcmp (mode, "flow-a") == 0)
      flow_a (&ep);
   else if (strcmp (mode, "activate") == 0 && argc == 8)
      activate (&ep, argv[7]);
   else if (strcmp (mode, "get") == 0 && argc == 8)
      get (&ep, argv[7]);
   else if (strcmp (mode, "send") == 0 && argc == 8)
      send_hex (&ep, argv[7]);
   else {
      fprintf (stderr, "unknown mode or missing argument: %s\n", mode);
      return 2;
   }
   return 0;
}
