/*
 * crc32.h - CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), the checksum of every
 * entry of the key-value store, as ESP-IDF's NVS keeps one per entry.
 */
#ifndef TRACKAGENT_CRC32_H
#define TRACKAGENT_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 of `len` bytes, continuing from `crc` (0 to start). crc32_update(0, "123456789",
 * 9) == 0xCBF43926. */
uint32_t crc32_update(uint32_t crc, const uint8_t *data, size_t len);

#endif /* TRACKAGENT_CRC32_H */
