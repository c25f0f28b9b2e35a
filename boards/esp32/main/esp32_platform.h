/*
 * esp32_platform.h - the platform interface (boards/common/platform.h) on
 * ESP-IDF v5:
 *
 *   key-value store  NVS, namespace "trackagent"; one blob per key (a factory
 *                    image may hold the identity as strings: both are read)
 *   uplink log       the data partition "uplinklog" (partitions.csv), NOR flash
 *                    through esp_partition_read/write/erase_range
 *   HTTP(S)          esp_http_client, certificate bundle, redirects off; one
 *                    exchange performed inside http_start (blocking, bounded by
 *                    the module's timeout), delivered at the next poll
 *   clock            esp_timer (microseconds since boot)
 *   randomness       esp_random (hardware RNG; true random once RF is on)
 *   GNSS             NMEA RMC sentences on a UART, or none (Kconfig)
 *   sleep            vTaskDelay under power management (automatic light
 *                    sleep), or deep sleep when the next wake is far
 *   battery, motion  unknown (-1) until the hardware is chosen
 *   log              ESP_LOG, tag "agent"
 */
#ifndef TRACKAGENT_ESP32_PLATFORM_H
#define TRACKAGENT_ESP32_PLATFORM_H

#include "esp_err.h"
#include "platform.h"

/* Opens NVS, finds the partition, installs the GNSS UART; fills `p`. */
esp_err_t esp32_platform_init(platform_t *p, bool allow_http);

#endif /* TRACKAGENT_ESP32_PLATFORM_H */
