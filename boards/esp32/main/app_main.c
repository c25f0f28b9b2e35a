/*
 * app_main.c - boot: NVS, Wi-Fi, the platform, then the agent in its own task
 * (or, with CONFIG_TRACKAGENT_TEST_CONSOLE, the test console, which runs the
 * agent only when told: test_console.h).
 *
 * The module (build/trackagent.wasm) is embedded in the app image and parsed in
 * place. The board configuration comes from menuconfig (Kconfig.projbuild):
 * allow-list, firmware version, development mode, Wi-Fi.
 *
 * Memory: after Wi-Fi is up the free heap is held against what the agent is measured to
 * need (boards/esp32/README.md, "Memory and stack"): one line says whether it fits.
 */
#include <stdio.h>
#include <string.h>

#include "agent_host.h"
#include "esp32_platform.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_pm.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "esp_heap_caps.h"
#include "nvs_flash.h"
#include "sdkconfig.h"
#include "test_console.h"
#include "wifi_manager.h"

static const char *TAG = "agent";

/* Measured (boards/riscv: the same wasm3 and module on a 32-bit RISC-V core): wasm3's heap
 * peak with lazy / eager compile, in bytes asked for, plus 12 bytes of allocator overhead
 * for each of its 334 / 410 blocks. */
#define WASM3_HEAP_LAZY_BYTES (211516u + 334u * 12u)
#define WASM3_HEAP_EAGER_BYTES (242944u + 410u * 12u)
/* Besides wasm3: the HTTP worker's stack and the two 4 KiB answer buffers, and mbedTLS
 * during a handshake (dynamic buffers; about 40 KB, to be read off the rig's
 * minFreeHeapBytes). */
#define OTHER_NEED_BYTES (8192u + 2u * 4096u + 40960u)
#define WIFI_WAIT_MS 30000u

/* A bool Kconfig option that is off is not defined at all. */
#if CONFIG_TRACKAGENT_DEV_MODE
#define DEV_MODE true
#else
#define DEV_MODE false
#endif

extern const uint8_t agent_wasm_start[] asm("_binary_agent_wasm_start");
extern const uint8_t agent_wasm_end[] asm("_binary_agent_wasm_end");

static platform_t plat;
#if !CONFIG_TRACKAGENT_TEST_CONSOLE
static agent_host_t host;          /* off the task stack */
#endif
static char board_config[512];

/* allow_host lines from the comma-separated Kconfig list, then the firmware. */
static size_t make_board_config(void)
{
    size_t n = 0;
    const char *hosts = CONFIG_TRACKAGENT_ALLOW_HOSTS;
    while (*hosts != '\0') {
        size_t len = strcspn(hosts, ",");
        while (len > 0 && hosts[0] == ' ') { hosts++; len--; }
        size_t trimmed = len;
        while (trimmed > 0 && hosts[trimmed - 1] == ' ') trimmed--;
        if (trimmed > 0)
            n += (size_t)snprintf(board_config + n, sizeof board_config - n, "allow_host=%.*s\n", (int)trimmed, hosts);
        hosts += len;
        if (*hosts == ',') hosts++;
        if (n >= sizeof board_config) break;
    }
    if (n < sizeof board_config)
        n += (size_t)snprintf(board_config + n, sizeof board_config - n, "firmware=%s\n", CONFIG_TRACKAGENT_FIRMWARE_VERSION);
    return n < sizeof board_config ? n : sizeof board_config - 1;
}

/* The agent's configuration, the same for a normal boot and a console run. */
static esp_err_t make_agent_config(agent_host_config_t *cfg)
{
    const agent_host_config_t defaults = AGENT_HOST_CONFIG_DEFAULT;
    *cfg = defaults;
    cfg->wasm = agent_wasm_start;
    cfg->wasm_len = (size_t)(agent_wasm_end - agent_wasm_start);
    cfg->board_config = board_config;
    cfg->board_config_len = make_board_config();
    cfg->start_flags = DEV_MODE ? AGENT_FLAG_DEV : 0;
    cfg->wasm_stack_bytes = CONFIG_TRACKAGENT_WASM_STACK;
    cfg->log_dictionary = &agent_log_dictionary;
#if CONFIG_TRACKAGENT_LAZY_COMPILE
    cfg->lazy_compile = true;
#endif
    return cfg->wasm_len > 0 ? ESP_OK : ESP_ERR_INVALID_SIZE;
}

#if !CONFIG_TRACKAGENT_TEST_CONSOLE
static void agent_task(void *arg)
{
    (void)arg;
    agent_host_config_t cfg;
    if (make_agent_config(&cfg) != ESP_OK) {
        ESP_LOGE(TAG, "no agent module in the image");
        vTaskDelete(NULL);
        return;
    }

    ESP_LOGI(TAG, "module %u bytes, free heap %u bytes", (unsigned)cfg.wasm_len, (unsigned)esp_get_free_heap_size());
    agent_status_t st = agent_host_init(&host, &plat, &cfg);
    if (st == AGENT_OK) {
        ESP_LOGI(TAG, "running; free heap %u bytes, agent stack high-water %u bytes unused",
                 (unsigned)esp_get_free_heap_size(), (unsigned)uxTaskGetStackHighWaterMark(NULL));
        st = agent_host_run(&host); /* returns only when no instance can be made again */
    }
    agent_host_deinit(&host);
    if (st == AGENT_ERR_START) {
        /* Identity missing or malformed, or a bad board configuration: the module
         * logged which. Nothing to do until the device is provisioned again. */
        ESP_LOGE(TAG, "agent refused to start (%d): waiting for provisioning", (int)host.start_status);
        for (;;) vTaskDelay(pdMS_TO_TICKS(3600 * 1000));
    }
    /* Out of memory or an unusable module: a reboot is the only recovery. */
    ESP_LOGE(TAG, "agent stopped: %s; restarting in 60 s", agent_status_text(st));
    vTaskDelay(pdMS_TO_TICKS(60000));
    esp_restart();
}
#endif

void app_main(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        /* Never erase: the identity lives there. Report and stop. */
        ESP_LOGE(TAG, "NVS unusable (%s): re-provision the device", esp_err_to_name(err));
        return;
    }
    ESP_ERROR_CHECK(err);
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());

#if CONFIG_PM_ENABLE
    esp_pm_config_t pm = {
        .max_freq_mhz = CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ, .min_freq_mhz = 80, .light_sleep_enable = true
    };
    ESP_ERROR_CHECK(esp_pm_configure(&pm));
#endif
    /* Wi-Fi station (menuconfig: trackagent > Wi-Fi), reconnecting for ever. The agent
     * copes with the network being down: requests fail and it backs off. */
    err = wifi_manager_start();
    if (err != ESP_OK) ESP_LOGE(TAG, "Wi-Fi: %s; the agent runs offline", esp_err_to_name(err));
    else if (!wifi_manager_wait_connected(WIFI_WAIT_MS)) ESP_LOGW(TAG, "network not up yet; the agent will retry");

    /* The agent task's stack comes from the same heap as wasm3. */
    size_t need = CONFIG_TRACKAGENT_TASK_STACK + OTHER_NEED_BYTES +
#if CONFIG_TRACKAGENT_LAZY_COMPILE
                  WASM3_HEAP_LAZY_BYTES;
#else
                  WASM3_HEAP_EAGER_BYTES;
#endif
    size_t free_now = esp_get_free_heap_size();
    if (free_now < need)
        ESP_LOGE(TAG, "memory: %u bytes free, the agent needs about %u: this board needs PSRAM (README, Memory)",
                 (unsigned)free_now, (unsigned)need);
    else
        ESP_LOGI(TAG, "memory: %u bytes free (%u internal), the agent needs about %u", (unsigned)free_now,
                 (unsigned)heap_caps_get_free_size(MALLOC_CAP_INTERNAL), (unsigned)need);

    err = esp32_platform_init(&plat, DEV_MODE);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "platform: %s (NVS namespace, partition \"uplinklog\", GNSS UART)", esp_err_to_name(err));
        return;
    }
#if CONFIG_TRACKAGENT_TEST_CONSOLE
    /* Test rigs: no run at boot; the console runs the agent when told. */
    agent_host_config_t cfg;
    err = make_agent_config(&cfg);
    if (err == ESP_OK) err = test_console_start(&plat, &cfg);
    if (err != ESP_OK) ESP_LOGE(TAG, "test console: %s", esp_err_to_name(err));
#else
    xTaskCreate(agent_task, "agent", CONFIG_TRACKAGENT_TASK_STACK, NULL, 5, NULL);
#endif
}
