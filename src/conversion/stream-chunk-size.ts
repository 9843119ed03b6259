/**
 * How large the chunks a droplet's gunzip hands on are (and the reads of a lifecycle tarball).
 * Every zlib write is a round trip to the libuv thread pool and every chunk a trip through the
 * stream machinery, so with zlib's 16 KiB default the conversion spent more time handing chunks
 * around than decompressing them; 256 KiB chunks cut that overhead to almost nothing for a few
 * hundred KiB in flight (docs/performance.md). How the tar is chunked changes no layer's bytes.
 */
export const LAYER_CHUNK_BYTES = 256 * 1024;
