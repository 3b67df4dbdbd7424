/*
 * One whole gzip member through ISA-L's igzip, for the parallel gzip writer
 * (pgzip.rs). Compiled only where ISA-L's headers are installed (build.rs): the
 * stream struct is laid out by the very header of the library that is linked.
 */
#include <stdint.h>
#include <isa-l/igzip_lib.h>

/* Bytes of working buffer igzip's `level` needs; UINT32_MAX for a level it lacks. */
uint32_t repack_igzip_level_buf_size(uint32_t level)
{
	switch (level) {
	case 0:
		return 0;
	case 1:
		return ISAL_DEF_LVL1_DEFAULT;
	case 2:
		return ISAL_DEF_LVL2_DEFAULT;
	case 3:
		return ISAL_DEF_LVL3_DEFAULT;
	default:
		return UINT32_MAX;
	}
}

/*
 * Compress in[0, in_len) at `level` into out[0, out_cap) as one gzip member (header,
 * deflate stream, trailer). Returns the member's length, or ISA-L's error code (all
 * negative: STATELESS_OVERFLOW when out_cap is too small, ISAL_INVALID_LEVEL, ...).
 */
int64_t repack_igzip_member(uint32_t level, const uint8_t *in, uint32_t in_len,
			    uint8_t *out, uint32_t out_cap, uint8_t *level_buf,
			    uint32_t level_buf_size)
{
	struct isal_zstream stream;
	isal_deflate_stateless_init(&stream);
	stream.next_in = (uint8_t *)in;
	stream.avail_in = in_len;
	stream.next_out = out;
	stream.avail_out = out_cap;
	stream.level = level;
	stream.level_buf = level_buf;
	stream.level_buf_size = level_buf_size;
	stream.gzip_flag = IGZIP_GZIP;
	stream.end_of_stream = 1;
	stream.flush = NO_FLUSH;
	int status = isal_deflate_stateless(&stream);
	if (status != COMP_OK)
		return status < 0 ? status : -1000 - status;
	return stream.total_out;
}
