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
 *   clock            esp_timer (microseconds since boot), or a virtual clock for
 *                    the test console's runs (esp32_platform_virtual_time)
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

/* Test runs only (main/test_console.c). Each call is made between runs, on the
 * task that runs the agent. */

/* Virtual time on or off; either way the clock starts again at 0 (a run is a
 * power-on to the module). In virtual time the clock jumps to the next wake-up
 * while nothing is in flight, as the Linux board's default mode does; the real
 * wait for one HTTP exchange is capped at http_wait_cap_ms (0: the module's
 * timeout). ESP_ERR_INVALID_STATE while an exchange or a fix is outstanding. */
esp_err_t esp32_platform_virtual_time(const platform_t *p, bool on, uint32_t http_wait_cap_ms);

/* A function sleep_until calls first, on the agent's task, while the module is
 * idle: the one safe moment for another task's request to call into the
 * module (agent_host_summary_json). NULL removes it. */
typedef esp_err_t (*esp32_idle_hook_t)(void *arg);
esp_err_t esp32_platform_idle_hook(const platform_t *p, esp32_idle_hook_t hook, void *arg);

/* A fresh device: erases every key of the NVS namespace and the whole uplink-log
 * partition. Never while the agent runs. */
esp_err_t esp32_platform_erase(const platform_t *p);

#endif /* TRACKAGENT_ESP32_PLATFORM_H */
