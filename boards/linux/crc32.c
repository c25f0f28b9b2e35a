/* crc32.c - see crc32.h. Bitwise, no table: the store checks a few hundred bytes per
 * write, and 1 KiB of table would cost more than it saves. */
#include "crc32.h"

uint32_t crc32_update(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}
