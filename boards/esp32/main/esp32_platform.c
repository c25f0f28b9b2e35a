/* esp32_platform.c - see esp32_platform.h. Thin on purpose: the logic that
 * matters is in boards/common (tested on Linux) and in the module.
 *
 * Two clocks. Real time (a normal boot): esp_timer since boot, real sleeps.
 * Virtual time (the test console's `run`, as the Linux board's default mode):
 * the clock is a counter that starts at 0 and jumps to the next wake-up while
 * nothing is in flight; an HTTP exchange (real, over Wi-Fi) arrives at the
 * virtual start + the real time it took, or + the module's timeout when it timed
 * out, its real wait capped; while GNSS is looking the clock runs with real time
 * (a fix comes from a real receiver). */
#include "esp32_platform.h"

#include <stdlib.h>
#include <string.h>

#include "esp32_http.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_partition.h"
#include "esp_pm.h"
#include "esp_random.h"
#include "esp_sleep.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "http_answer.h"
#include "nvs.h"
#include "sdkconfig.h"
#include "soc/soc_caps.h"
#if CONFIG_TRACKAGENT_GNSS_NMEA_UART
#include "driver/uart.h"
#endif

#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 5, 0)
#error "this port needs ESP-IDF v5.5 or later (main/idf_component.yml)"
#endif

static const char *TAG = "agent";

#define SECTOR_SIZE 4096u
#define PROGRAM_UNIT 4u
/* partitions.csv: the uplink log is a partition of a custom type (0x40-0xFE are the
 * application's), subtype 0. */
#define LOG_PARTITION_TYPE ((esp_partition_type_t)0x40)
#define LOG_PARTITION_SUBTYPE ((esp_partition_subtype_t)0x00)
#define LOG_PARTITION_LABEL "uplinklog"
#define ANSWER_CAP_MAX 4096u   /* the module's rx_capacity() (assembly/agent.ts RX_CAPACITY) */
#define TEST_CA_KEY "testCa"   /* test rigs: a CA (PEM) for the rig's TLS cloud, test_console.c */
#define TEST_CA_MAX 4096u

typedef struct esp32_board {
    nvs_handle_t nvs;
    const esp_partition_t *log_part;
    bool allow_http;
    /* clock: virtual time for test runs (esp32_platform_virtual_time) */
    bool virtual_time;
    int64_t virtual_ms;
    uint32_t http_wait_cap_ms;  /* virtual time: longest real wait for one exchange */
    /* HTTP: completed inside http_start, reported by the polls from http_ready_ms on */
    bool http_done;
    int64_t http_ready_ms;
    char *test_ca_pem;          /* test runs: the rig's CA, or NULL (certificate bundle) */
    /* called by sleep_until, on the agent's task, while the module is idle */
    esp32_idle_hook_t idle_hook;
    void *idle_arg;
    /* GNSS */
    esp_pm_lock_handle_t gnss_awake; /* no light sleep while a receiver is being read */
    bool gnss_active, gnss_ready;
    int64_t gnss_deadline_ms;
    plat_gnss_fix_t gnss_fix;
    char nmea[100];
    size_t nmea_len;
} esp32_board_t;

static esp32_board_t board;

/* ---- key-value store: NVS ---------------------------------------------------- */

static plat_status_t kv_get(void *ctx, const char *key, uint8_t *buf, size_t cap, size_t *value_len)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    size_t len = 0;
    bool is_str = false;
    esp_err_t err = nvs_get_blob(b->nvs, key, NULL, &len);
    if (err == ESP_ERR_NVS_NOT_FOUND) {
        /* nvs_partition_gen.py writes `string` entries: accept them too. */
        err = nvs_get_str(b->nvs, key, NULL, &len);
        is_str = true;
    }
    if (err == ESP_ERR_NVS_NOT_FOUND) return PLAT_NOT_FOUND;
    if (err != ESP_OK) return PLAT_IO;
    /* NVS reads whole values only: read into a temporary when it exceeds cap. */
    uint8_t *tmp = (uint8_t *)malloc(len > 0 ? len : 1);
    if (tmp == NULL) return PLAT_NO_MEMORY;
    err = is_str ? nvs_get_str(b->nvs, key, (char *)tmp, &len) : nvs_get_blob(b->nvs, key, tmp, &len);
    if (err == ESP_OK) {
        if (is_str && len > 0) len--; /* the terminating NUL is not part of the value */
        memcpy(buf, tmp, len < cap ? len : cap);
        *value_len = len;
    }
    free(tmp);
    return err == ESP_OK ? PLAT_OK : PLAT_IO;
}

static plat_status_t kv_set(void *ctx, const char *key, const uint8_t *value, size_t len)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    if (strlen(key) > NVS_KEY_NAME_MAX_SIZE - 1) return PLAT_INVALID;
    /* An NVS entry is written whole or not at all: atomic per key. A string entry
     * of the same name (factory) would shadow nothing: blobs are read first. */
    esp_err_t err = nvs_set_blob(b->nvs, key, value, len);
    if (err == ESP_OK) err = nvs_commit(b->nvs);
    return err == ESP_OK ? PLAT_OK : PLAT_IO;
}

/* ---- uplink log: esp_partition -------------------------------------------------- */

static plat_status_t flash_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    return esp_partition_read(b->log_part, addr, buf, len) == ESP_OK ? PLAT_OK : PLAT_IO;
}

static plat_status_t flash_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    /* NOR flash: writing clears bits, exactly the ABI's semantics. */
    return esp_partition_write(b->log_part, addr, data, len) == ESP_OK ? PLAT_OK : PLAT_IO;
}

static plat_status_t flash_erase(void *ctx, uint32_t sector)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    return esp_partition_erase_range(b->log_part, (size_t)sector * SECTOR_SIZE, SECTOR_SIZE) == ESP_OK ? PLAT_OK : PLAT_IO;
}

/* ---- HTTP: esp32_http.c (a worker task, the whole exchange bounded) -------------- */

static int64_t now_ms(void *ctx);

static plat_status_t http_start(void *ctx, const plat_http_request_t *req, plat_http_answer_t *ans)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    bool https = req->url_len >= 8 && memcmp(req->url, "https://", 8) == 0;
    bool http = req->url_len >= 7 && memcmp(req->url, "http://", 7) == 0;
    if (!https && !(b->allow_http && http)) return PLAT_INVALID;

    /* Virtual time: a cloud that hangs costs at most the cap in real time; the module
     * still sees its whole timeout pass (below). */
    uint32_t timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;
    uint32_t wait = timeout;
    if (b->virtual_time && b->http_wait_cap_ms > 0 && wait > b->http_wait_cap_ms) wait = b->http_wait_cap_ms;
    int64_t took_ms = 0;
    plat_status_t st = esp32_http_exchange(req, b->test_ca_pem, wait, ans, &took_ms);
    if (st != PLAT_OK) return st;
    ESP_LOGD(TAG, "http: %s -> %d (%lld ms)", req->method == PLAT_HTTP_POST ? "POST" : "GET",
             (int)ans->status, (long long)took_ms);
    /* Real time: the answer is there now. Virtual: it arrives when the virtual clock has
     * run what the exchange took (its whole timeout if it timed out). */
    b->http_ready_ms = now_ms(b);
    if (b->virtual_time) b->http_ready_ms += ans->status == PLAT_HTTP_TIMEOUT ? (int64_t)timeout : took_ms;
    b->http_done = true;
    return PLAT_OK;
}

static plat_status_t http_poll(void *ctx)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    if (!b->http_done) return PLAT_NOT_FOUND;
    if (now_ms(b) < b->http_ready_ms) return PLAT_BUSY;
    b->http_done = false;
    return PLAT_OK;
}

static void http_cancel(void *ctx) { ((esp32_board_t *)ctx)->http_done = false; }

/* ---- clock, randomness, sleep -------------------------------------------------- */

static int64_t now_ms(void *ctx)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    if (b->virtual_time) return b->virtual_ms;
    return esp_timer_get_time() / 1000;
}

static uint32_t random_u32(void *ctx)
{
    (void)ctx;
    return esp_random();
}

static void gnss_pump(esp32_board_t *b);

/* Virtual time: jump to the wake time or the HTTP answer's arrival, whichever
 * comes first; while GNSS is looking, run with real time in slices of 200 ms. */
static plat_status_t sleep_virtual(esp32_board_t *b, int64_t wake_ms)
{
    int64_t until = wake_ms;
    if (b->http_done && b->http_ready_ms < until) until = b->http_ready_ms;
    while (b->virtual_ms < until) {
        if (!b->gnss_active) {
            b->virtual_ms = until;
            break;
        }
        gnss_pump(b);
        if (b->gnss_ready) break;
        int64_t step = until - b->virtual_ms;
        if (step > 200) step = 200;
        int64_t t0 = esp_timer_get_time();
        vTaskDelay(pdMS_TO_TICKS(step) > 0 ? pdMS_TO_TICKS(step) : 1);
        int64_t ran = (esp_timer_get_time() - t0) / 1000;
        b->virtual_ms += ran < step ? ran : step;
    }
    /* One tick for the others: hours pass without a real wait, and the idle
     * task (the task watchdog) and the console must still run. */
    vTaskDelay(1);
    return PLAT_OK;
}

static plat_status_t sleep_until(void *ctx, int64_t wake_ms)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    if (b->idle_hook != NULL) (void)b->idle_hook(b->idle_arg);
    if (b->virtual_time) return sleep_virtual(b, wake_ms);
    for (;;) {
        int64_t now = now_ms(b);
        if (now >= wake_ms || (b->http_done && now >= b->http_ready_ms)) return PLAT_OK;
        if (b->gnss_active) {
            gnss_pump(b);
            if (b->gnss_ready) return PLAT_OK;
        }
#if CONFIG_TRACKAGENT_SLEEP_DEEP
        if (!b->gnss_active && wake_ms - now >= (int64_t)CONFIG_TRACKAGENT_DEEP_SLEEP_MIN_S * 1000) {
            ESP_LOGI(TAG, "deep sleep for %lld s", (long long)((wake_ms - now) / 1000));
            esp_deep_sleep((uint64_t)(wake_ms - now) * 1000); /* does not return: the next wake boots */
        }
#endif
        /* Light sleep happens by itself under power management while this task
         * waits; while GNSS is looking, wake often enough to read the UART. */
        int64_t step = wake_ms - now;
        if (b->gnss_active && step > 200) step = 200;
        if (step > 60000) step = 60000;
        vTaskDelay(pdMS_TO_TICKS(step) > 0 ? pdMS_TO_TICKS(step) : 1);
    }
}

/* ---- GNSS: NMEA RMC on a UART ---------------------------------------------------- */

#if CONFIG_TRACKAGENT_GNSS_NMEA_UART

/* ddmm.mmmm + hemisphere -> degrees */
static bool nmea_coord(const char *v, const char *hemi, double *out)
{
    if (v == NULL || *v == '\0' || hemi == NULL) return false;
    double raw = strtod(v, NULL);
    int deg = (int)(raw / 100);
    double d = deg + (raw - deg * 100) / 60.0;
    if (*hemi == 'S' || *hemi == 'W') d = -d;
    *out = d;
    return true;
}

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* $xxRMC,hhmmss.ss,A,llll.ll,a,yyyyy.yy,a,speed,course,ddmmyy,... */
static bool parse_rmc(char *line, plat_gnss_fix_t *fix)
{
    char *f[13] = { 0 };
    int n = 0;
    if (strlen(line) < 7 || strncmp(line + 3, "RMC,", 4) != 0) return false;
    char *star = strchr(line, '*');
    if (star != NULL) *star = '\0';
    for (char *p = line; p != NULL && n < 13; n++) {
        f[n] = p;
        p = strchr(p, ',');
        if (p != NULL) *p++ = '\0';
    }
    if (n < 10 || f[2] == NULL || f[2][0] != 'A') return false; /* 'V': no fix */
    if (!nmea_coord(f[3], f[4], &fix->lat) || !nmea_coord(f[5], f[6], &fix->lon)) return false;
    fix->accuracy_m = 10.0; /* RMC has no accuracy; GGA's HDOP would refine it */
    fix->utc_s = 0;
    if (strlen(f[1]) >= 6 && strlen(f[9]) == 6) {
        int hh = (f[1][0] - '0') * 10 + (f[1][1] - '0'), mi = (f[1][2] - '0') * 10 + (f[1][3] - '0');
        double ss = strtod(f[1] + 4, NULL);
        int dd = (f[9][0] - '0') * 10 + (f[9][1] - '0'), mo = (f[9][2] - '0') * 10 + (f[9][3] - '0');
        int yy = 2000 + (f[9][4] - '0') * 10 + (f[9][5] - '0');
        fix->utc_s = (double)(days_from_civil(yy, mo, dd) * 86400 + hh * 3600 + mi * 60) + ss;
    }
    return true;
}

static void gnss_pump(esp32_board_t *b)
{
    uint8_t chunk[64];
    int n;
    bool was_ready = b->gnss_ready;
    while (!b->gnss_ready && (n = uart_read_bytes(CONFIG_TRACKAGENT_GNSS_UART, chunk, sizeof chunk, 0)) > 0) {
        for (int i = 0; i < n && !b->gnss_ready; i++) {
            char c = (char)chunk[i];
            if (c == '$') b->nmea_len = 0;
            if (c == '\n' || c == '\r') {
                b->nmea[b->nmea_len] = '\0';
                if (b->nmea_len > 0 && parse_rmc(b->nmea, &b->gnss_fix)) {
                    b->gnss_fix.status = PLAT_GNSS_FIX;
                    b->gnss_ready = true;
                }
                b->nmea_len = 0;
            } else if (b->nmea_len + 1 < sizeof b->nmea) {
                b->nmea[b->nmea_len++] = c;
            }
        }
    }
    if (!b->gnss_ready && now_ms(b) >= b->gnss_deadline_ms) {
        b->gnss_fix.status = PLAT_GNSS_TIMEOUT;
        b->gnss_ready = true;
    }
    if (!was_ready && b->gnss_ready && b->gnss_awake != NULL) esp_pm_lock_release(b->gnss_awake);
}

static plat_status_t gnss_start(void *ctx, int32_t req_id, uint32_t timeout_ms)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    /* Automatic light sleep stops the UART: NMEA bytes would be lost. Held until the
     * fix, the timeout or a cancel (gnss_pump, gnss_cancel). */
    if (b->gnss_awake != NULL && esp_pm_lock_acquire(b->gnss_awake) != ESP_OK) return PLAT_IO;
    uart_flush_input(CONFIG_TRACKAGENT_GNSS_UART); /* only sentences from now on */
    memset(&b->gnss_fix, 0, sizeof b->gnss_fix);
    b->gnss_fix.req_id = req_id;
    b->gnss_active = true;
    b->gnss_ready = false;
    b->nmea_len = 0;
    b->gnss_deadline_ms = now_ms(b) + timeout_ms;
    return PLAT_OK;
}

#else

static void gnss_pump(esp32_board_t *b) { (void)b; }

static plat_status_t gnss_start(void *ctx, int32_t req_id, uint32_t timeout_ms)
{
    (void)ctx;
    (void)req_id;
    (void)timeout_ms;
    return PLAT_UNSUPPORTED;
}

#endif

static plat_status_t gnss_poll(void *ctx, plat_gnss_fix_t *fix)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    if (!b->gnss_active) return PLAT_NOT_FOUND;
    gnss_pump(b);
    if (!b->gnss_ready) return PLAT_BUSY;
    *fix = b->gnss_fix;
    b->gnss_active = b->gnss_ready = false;
    return PLAT_OK;
}

static void gnss_cancel(void *ctx)
{
    esp32_board_t *b = (esp32_board_t *)ctx;
    bool holding = b->gnss_active && !b->gnss_ready; /* gnss_pump released it once ready */
    b->gnss_active = b->gnss_ready = false;
    if (holding && b->gnss_awake != NULL) esp_pm_lock_release(b->gnss_awake);
}

/* ---- readings and log ------------------------------------------------------------ */

static int32_t battery_percent(void *ctx) { (void)ctx; return -1; }
static int32_t motion(void *ctx) { (void)ctx; return -1; }

static void log_line(void *ctx, int level, const char *text, size_t len)
{
    (void)ctx;
    switch (level) {
    case PLAT_LOG_ERROR: ESP_LOGE(TAG, "%.*s", (int)len, text); break;
    case PLAT_LOG_WARN:  ESP_LOGW(TAG, "%.*s", (int)len, text); break;
    case PLAT_LOG_INFO:  ESP_LOGI(TAG, "%.*s", (int)len, text); break;
    default:             ESP_LOGD(TAG, "%.*s", (int)len, text); break;
    }
}

esp_err_t esp32_platform_init(platform_t *p, bool allow_http)
{
    esp32_board_t *b = &board;
    memset(b, 0, sizeof *b);
    b->allow_http = allow_http;
    esp_err_t err = nvs_open("trackagent", NVS_READWRITE, &b->nvs);
    if (err != ESP_OK) return err;
    b->log_part = esp_partition_find_first(LOG_PARTITION_TYPE, LOG_PARTITION_SUBTYPE, LOG_PARTITION_LABEL);
    if (b->log_part == NULL || b->log_part->size < 2 * SECTOR_SIZE) return ESP_ERR_NOT_FOUND;
    err = esp32_http_init(ANSWER_CAP_MAX);
    if (err != ESP_OK) return err;
#if CONFIG_TRACKAGENT_GNSS_NMEA_UART
#if CONFIG_PM_ENABLE
    err = esp_pm_lock_create(ESP_PM_NO_LIGHT_SLEEP, 0, "gnss", &b->gnss_awake);
    if (err != ESP_OK) return err;
#endif
    const uart_config_t uc = {
        .baud_rate = CONFIG_TRACKAGENT_GNSS_BAUD,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        /* A clock that frequency scaling does not change (APB does): the baud rate holds. */
#if SOC_UART_SUPPORT_XTAL_CLK
        .source_clk = UART_SCLK_XTAL,
#elif SOC_UART_SUPPORT_REF_TICK
        .source_clk = UART_SCLK_REF_TICK,
#else
        .source_clk = UART_SCLK_DEFAULT,
#endif
    };
    err = uart_driver_install(CONFIG_TRACKAGENT_GNSS_UART, 1024, 0, 0, NULL, 0);
    if (err == ESP_OK) err = uart_param_config(CONFIG_TRACKAGENT_GNSS_UART, &uc);
    if (err == ESP_OK)
        err = uart_set_pin(CONFIG_TRACKAGENT_GNSS_UART, CONFIG_TRACKAGENT_GNSS_TX_PIN, CONFIG_TRACKAGENT_GNSS_RX_PIN,
                           UART_PIN_NO_CHANGE, UART_PIN_NO_CHANGE);
    if (err != ESP_OK) return err;
#endif
    memset(p, 0, sizeof *p);
    p->ctx = b;
    p->kv_get = kv_get;
    p->kv_set = kv_set;
    p->flash.sector_size = SECTOR_SIZE;
    p->flash.sector_count = (uint32_t)(b->log_part->size / SECTOR_SIZE);
    p->flash.program_unit = PROGRAM_UNIT;
    p->flash_read = flash_read;
    p->flash_program = flash_program;
    p->flash_erase = flash_erase;
    p->http_start = http_start;
    p->http_poll = http_poll;
    p->http_cancel = http_cancel;
    p->now_ms = now_ms;
    p->sleep_until = sleep_until;
    p->random_u32 = random_u32;
    p->gnss_start = gnss_start;
    p->gnss_poll = gnss_poll;
    p->gnss_cancel = gnss_cancel;
    p->battery_percent = battery_percent;
    p->motion = motion;
    p->log = log_line;
    return ESP_OK;
}

esp_err_t esp32_platform_virtual_time(const platform_t *p, bool on, uint32_t http_wait_cap_ms)
{
    if (p == NULL || p->ctx != &board) return ESP_ERR_INVALID_ARG;
    esp32_board_t *b = &board;
    if (b->http_done || b->gnss_active) return ESP_ERR_INVALID_STATE; /* only between runs */
    b->virtual_time = on;
    b->virtual_ms = 0; /* a run is a power-on: the module's clock starts near 0 */
    b->http_wait_cap_ms = http_wait_cap_ms;
    /* A test run verifies the rig's cloud with the CA the rig provisioned, if any. */
    free(b->test_ca_pem);
    b->test_ca_pem = NULL;
    size_t len = 0;
    if (on && nvs_get_blob(b->nvs, TEST_CA_KEY, NULL, &len) == ESP_OK && len > 0 && len < TEST_CA_MAX) {
        b->test_ca_pem = (char *)malloc(len + 1);
        if (b->test_ca_pem == NULL) return ESP_ERR_NO_MEM;
        if (nvs_get_blob(b->nvs, TEST_CA_KEY, b->test_ca_pem, &len) != ESP_OK) len = 0;
        b->test_ca_pem[len] = '\0';
        ESP_LOGI(TAG, "test run: TLS verified with the rig's CA (%u bytes)", (unsigned)len);
    }
    return ESP_OK;
}

esp_err_t esp32_platform_idle_hook(const platform_t *p, esp32_idle_hook_t hook, void *arg)
{
    if (p == NULL || p->ctx != &board) return ESP_ERR_INVALID_ARG;
    board.idle_hook = hook;
    board.idle_arg = arg;
    return ESP_OK;
}

esp_err_t esp32_platform_erase(const platform_t *p)
{
    if (p == NULL || p->ctx != &board) return ESP_ERR_INVALID_ARG;
    esp32_board_t *b = &board;
    esp_err_t err = nvs_erase_all(b->nvs);
    if (err == ESP_OK) err = nvs_commit(b->nvs);
    if (err == ESP_OK) err = esp_partition_erase_range(b->log_part, 0, b->log_part->size);
    return err;
}
