/*
 * wifi_manager.h - Wi-Fi station that reconnects for ever, with back-off
 * (menuconfig: trackagent > Wi-Fi: CONFIG_TRACKAGENT_WIFI_SSID, _PASSWORD, _BACKOFF_MAX_S).
 */
#ifndef TRACKAGENT_WIFI_MANAGER_H
#define TRACKAGENT_WIFI_MANAGER_H

#include <stdbool.h>
#include <stdint.h>

#include "esp_err.h"

/* Starts the station (after esp_netif_init and the default event loop). */
esp_err_t wifi_manager_start(void);

/* Waits until the station has an address, at most timeout_ms; false when it has none. */
bool wifi_manager_wait_connected(uint32_t timeout_ms);

#endif /* TRACKAGENT_WIFI_MANAGER_H */
