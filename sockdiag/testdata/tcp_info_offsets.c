/*
 * Prints the offset and size of each field of struct tcp_info that
 * package sockdiag reads, as this machine's C compiler lays out the
 * kernel's uapi header. TestTCPInfoOffsetsC compares them with the
 * package's. Regenerate tcp_info_offsets.txt with:
 *
 *   cc -o /tmp/tcp_info_offsets tcp_info_offsets.c && /tmp/tcp_info_offsets > tcp_info_offsets.txt
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/tcp.h>

#define F(name) printf("%s %zu %zu\n", #name, offsetof(struct tcp_info, name), sizeof(((struct tcp_info *)0)->name))

int main(void)
{
	F(tcpi_state);
	F(tcpi_ca_state);
	F(tcpi_retransmits);
	F(tcpi_rto);
	F(tcpi_snd_mss);
	F(tcpi_rcv_mss);
	F(tcpi_unacked);
	F(tcpi_lost);
	F(tcpi_retrans);
	F(tcpi_rtt);
	F(tcpi_rttvar);
	F(tcpi_snd_cwnd);
	F(tcpi_total_retrans);
	F(tcpi_pacing_rate);
	F(tcpi_bytes_acked);
	F(tcpi_bytes_received);
	F(tcpi_segs_out);
	F(tcpi_segs_in);
	F(tcpi_notsent_bytes);
	F(tcpi_min_rtt);
	F(tcpi_delivery_rate);
	F(tcpi_delivered);
	F(tcpi_bytes_sent);
	F(tcpi_bytes_retrans);
	F(tcpi_snd_wnd);
	printf("sizeof %zu\n", sizeof(struct tcp_info));
	return 0;
}
