/*
 * nids-count: reassemble every TCP stream of a capture file with libnids and
 * count the payload bytes delivered in each direction.
 *
 * The baseline for bench/run.sh: the classic C reassembly library doing TCP
 * alone, with no protocol analysis and no output but the totals.
 *
 * Usage: nids-count CAPTURE
 * Prints: streams=N closed=N reset=N bytes_to_server=N bytes_to_client=N
 *
 * Checksums are not verified (netanalysis does not verify them either), and
 * libnids' port-scan detector is off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <nids.h>

static unsigned long long streams, closed, reset, warnings;
static unsigned long long bytes_to_server, bytes_to_client;

/* Called for every stream state change and every in-order stretch of data. */
static void on_tcp(struct tcp_stream *stream, void **unused)
{
    (void)unused;
    switch (stream->nids_state) {
    case NIDS_JUST_EST:
        stream->client.collect++;
        stream->server.collect++;
        streams++;
        break;
    case NIDS_DATA:
        /* New bytes in `server` were sent by the client, and vice versa. */
        bytes_to_server += stream->server.count_new;
        bytes_to_client += stream->client.count_new;
        break;
    case NIDS_CLOSE:
        closed++;
        break;
    case NIDS_RESET:
        reset++;
        break;
    default:
        break;
    }
}

/* libnids reports odd packets through this hook; count them instead of
 * sending each one to syslog. */
static void on_warning(int type, int error, void *ip_header, void *data)
{
    (void)type; (void)error; (void)ip_header; (void)data;
    warnings++;
}

int main(int argc, char **argv)
{
    static struct nids_chksum_ctl no_checksums = { 0, 0, NIDS_DONT_CHKSUM, 0 };

    if (argc != 2) {
        fprintf(stderr, "usage: %s CAPTURE\n", argv[0]);
        return 2;
    }
    nids_params.filename = argv[1];
    nids_params.device = NULL;
    nids_params.scan_num_hosts = 0;
    nids_params.n_tcp_streams = 1 << 16;
    nids_params.syslog = on_warning;
    nids_register_chksum_ctl(&no_checksums, 1);
    if (!nids_init()) {
        fprintf(stderr, "nids-count: %s\n", nids_errbuf);
        return 1;
    }
    nids_register_tcp(on_tcp);
    nids_run();
    printf("streams=%llu closed=%llu reset=%llu bytes_to_server=%llu bytes_to_client=%llu warnings=%llu\n",
           streams, closed, reset, bytes_to_server, bytes_to_client, warnings);
    return 0;
}
