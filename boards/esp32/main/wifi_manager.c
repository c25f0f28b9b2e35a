/* wifi_manager.c - see wifi_manager.h.
 *
 * ESP-IDF's protocol_examples_common gives up after a few disconnects, which leaves a
 * device offline for good after one access-point outage. Here every disconnect schedules
 * the next attempt (esp_timer, one-shot) after a back-off that doubles from 1 s up to
 * CONFIG_TRACKAGENT_WIFI_BACKOFF_MAX_S, with jitter so a fleet does not reconnect in step;
 * getting an address resets it. It never stops trying.
 */
#include "wifi_manager.h"

#include <string.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_random.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "sdkconfig.h"

static const char *TAG = "wifi";

#define CONNECTED_BIT BIT0
#define FIRST_DELAY_MS 1000u

static EventGroupHandle_t events;
static esp_timer_handle_t retry_timer;
static uint32_t attempt;

static uint64_t backoff_us(uint32_t n)
{
    uint64_t max_ms = (uint64_t)CONFIG_TRACKAGENT_WIFI_BACKOFF_MAX_S * 1000u;
    uint64_t ms = (uint64_t)FIRST_DELAY_MS << (n < 16 ? n : 16);
    if (ms > max_ms) ms = max_ms;
    ms = ms / 2 + esp_random() % (ms / 2 + 1); /* half to all of it */
    return ms * 1000u;
}

/* A Kconfig string into a fixed Wi-Fi field (which need not end in a NUL when full). */
static void copy_field(uint8_t *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    memcpy(dst, src, n < cap ? n : cap);
}

static void retry(void *arg)
{
    (void)arg;
    esp_err_t err = esp_wifi_connect();
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "connect: %s; next try later", esp_err_to_name(err));
        esp_timer_start_once(retry_timer, backoff_us(attempt++));
    }
}

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
        esp_wifi_connect();
    } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        const wifi_event_sta_disconnected_t *d = (const wifi_event_sta_disconnected_t *)data;
        xEventGroupClearBits(events, CONNECTED_BIT);
        uint64_t wait = backoff_us(attempt++);
        ESP_LOGW(TAG, "disconnected (reason %d); reconnecting in %llu ms", d != NULL ? (int)d->reason : -1,
                 (unsigned long long)(wait / 1000));
        esp_timer_stop(retry_timer); /* not armed, or about to be re-armed */
        esp_timer_start_once(retry_timer, wait);
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        attempt = 0;
        xEventGroupSetBits(events, CONNECTED_BIT);
        ESP_LOGI(TAG, "connected");
    }
}

esp_err_t wifi_manager_start(void)
{
    events = xEventGroupCreate();
    if (events == NULL) return ESP_ERR_NO_MEM;
    const esp_timer_create_args_t targs = { .callback = retry, .name = "wifi_retry" };
    esp_err_t err = esp_timer_create(&targs, &retry_timer);
    if (err != ESP_OK) return err;
    if (esp_netif_create_default_wifi_sta() == NULL) return ESP_FAIL;
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    if ((err = esp_wifi_init(&init)) != ESP_OK) return err;
    if ((err = esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_event, NULL)) != ESP_OK) return err;
    if ((err = esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_event, NULL)) != ESP_OK) return err;
    wifi_config_t cfg = { 0 };
    copy_field(cfg.sta.ssid, sizeof cfg.sta.ssid, CONFIG_TRACKAGENT_WIFI_SSID);
    copy_field(cfg.sta.password, sizeof cfg.sta.password, CONFIG_TRACKAGENT_WIFI_PASSWORD);
    cfg.sta.threshold.authmode = CONFIG_TRACKAGENT_WIFI_PASSWORD[0] != '\0' ? WIFI_AUTH_WPA2_PSK : WIFI_AUTH_OPEN;
    if ((err = esp_wifi_set_mode(WIFI_MODE_STA)) != ESP_OK) return err;
    if ((err = esp_wifi_set_config(WIFI_IF_STA, &cfg)) != ESP_OK) return err;
    if ((err = esp_wifi_start()) != ESP_OK) return err;
    /* Modem sleep between beacons: what lets automatic light sleep happen with Wi-Fi on. */
    return esp_wifi_set_ps(WIFI_PS_MIN_MODEM);
}

bool wifi_manager_wait_connected(uint32_t timeout_ms)
{
    if (events == NULL) return false;
    EventBits_t bits = xEventGroupWaitBits(events, CONNECTED_BIT, pdFALSE, pdTRUE, pdMS_TO_TICKS(timeout_ms));
    return (bits & CONNECTED_BIT) != 0;
}
