/*
 * test_console.c - see test_console.h; manual in boards/esp32/README.md,
 * "Console (test rigs)".
 *
 * Input: the UART driver on the console UART and uart_read_bytes, not stdin.
 * stdin through the VFS is non-blocking until the driver is installed and the
 * VFS told to use it (an API renamed within v5), and newlib would keep a copy
 * of every line (an API key) in its FILE buffer; here the only copy is one
 * fixed buffer, wiped after each line, and nothing typed is echoed. Output stays
 * on stdout (the VFS's own writes to the same UART): one printf per answer, so
 * a log line from another task cannot cut into it.
 *
 * Two tasks: this one reads lines; the "agent" task runs the agent on `run`
 * (it needs the big stack). Only the agent task ever calls into the module: a
 * `summary` during a run is answered by it, from the platform's idle hook.
 *
 * READY names the build: the SHA-256 of the embedded module (the rig compares it with
 * the build/trackagent.wasm it tests, and refuses a board flashed with another) and of
 * the app's ELF. `cacert begin|add <base64>|end|clear` provisions the CA of the rig's
 * TLS cloud (NVS key testCa), used by the runs instead of the certificate bundle.
 */
#include "test_console.h"

#include "sdkconfig.h"

#if CONFIG_TRACKAGENT_TEST_CONSOLE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/uart.h"
#include "esp32_platform.h"
#include "esp_app_desc.h"
#include "mbedtls/sha256.h"
#include "esp_log.h"
#include "esp_pm.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#if !defined(CONFIG_ESP_CONSOLE_UART_NUM) || CONFIG_ESP_CONSOLE_UART_NUM < 0
#error "CONFIG_TRACKAGENT_TEST_CONSOLE needs the console on a UART (Component config > ESP System Settings)"
#endif

#define CONSOLE_UART CONFIG_ESP_CONSOLE_UART_NUM
#define VALUE_MAX 512         /* ABI.md: values at most 512 bytes */
#define CONSOLE_LINE_MAX 600  /* "provision resetSecret " + a value, with room to say it is too long */
#define ANSWER_MAX 160
#define JSON_MAX (AGENT_HOST_SUMMARY_MAX + 400) /* + this board's fields, every number at its widest */
#define HOURS_MAX 8760.0      /* a year of virtual time */
#define TRAP_EVERY_MAX 1000000u
#define CONSOLE_STACK 6144    /* printf, NVS writes, partition erase */
#define TEST_CA_KEY "testCa"  /* esp32_platform.c reads it at the start of a run */
#define TEST_CA_MAX 4096
#define PEM_BEGIN "-----BEGIN CERTIFICATE-----\n"
#define PEM_END "-----END CERTIFICATE-----\n"

static const char *TAG = "console";

static const char *const identity_keys[] = { "tenantId", "deviceId", "environment", "apiKey", "resetSecret" };

typedef struct console {
    const platform_t   *plat;
    agent_host_config_t base;
    agent_host_t        host;            /* one run at a time, on the agent task */
    SemaphoreHandle_t   lock;            /* guards running, have_last, last */
    SemaphoreHandle_t   run_go;          /* console -> agent task: start the run asked */
    SemaphoreHandle_t   summary_wanted;  /* console -> agent task: print the live summary */
    bool                running, have_last;
    double              hours;           /* the run asked (written before run_go) */
    uint32_t            trap_every;
    char                last[JSON_MAX];  /* the summary of the last run that ended */
    char                json[JSON_MAX];  /* agent task's scratch */
    char                line[CONSOLE_LINE_MAX + 1];
    char                id[48];            /* build id, as READY prints it */
    char                ca[TEST_CA_MAX];   /* a CA being provisioned (cacert begin .. end) */
    size_t              ca_len;
    bool                ca_open;
    size_t              line_len;
    bool                overlong, bad_byte;
} console_t;

static console_t con;

/* ---- output ------------------------------------------------------------------- */

/* One answer line. Never given a value: a value may be a key. */
static esp_err_t answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static esp_err_t answer(const char *fmt, ...)
{
    char text[ANSWER_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0) return ESP_FAIL;
    printf("%s\n", text);
    fflush(stdout);
    return ESP_OK;
}

static esp_err_t print_summary(const char *json)
{
    printf("SUMMARY %s\n", json);
    fflush(stdout);
    return ESP_OK;
}

/* A JSON string (or null) for `s`, which is the glue's or wasm3's text. */
static esp_err_t json_string(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    if (cap < 8) return ESP_ERR_INVALID_SIZE;
    if (s == NULL) {
        strcpy(out, "null");
        return ESP_OK;
    }
    out[n++] = '"';
    for (; *s != '\0' && n + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { out[n++] = '\\'; out[n++] = (char)ch; }
        else if (ch < 0x20 || ch > 0x7e) out[n++] = ' ';
        else out[n++] = (char)ch;
    }
    out[n++] = '"';
    out[n] = '\0';
    return ESP_OK;
}

/* The Linux board's --json fields that apply here (boards/common builds the
 * shared ones), then this board's. Agent task only: it calls into the module. */
static esp_err_t build_summary(console_t *c, bool running, const char *error, char *out, size_t cap)
{
    char common[AGENT_HOST_SUMMARY_MAX], err[200];
    if (agent_host_summary_json(&c->host, common, sizeof common, NULL) != AGENT_OK) return ESP_ERR_INVALID_SIZE;
    esp_err_t e = json_string(error, err, sizeof err);
    if (e != ESP_OK) return e;
    int n = snprintf(out, cap,
                     "{%s,\"elapsedMs\":%lld,\"realtime\":false,\"running\":%s,\"error\":%s,"
                     "\"esp32\":{\"freeHeapBytes\":%lu,\"minFreeHeapBytes\":%lu,\"agentStackUnusedBytes\":%lu,"
                     "\"moduleBytes\":%lu}}",
                     common, (long long)c->plat->now_ms(c->plat->ctx), running ? "true" : "false", err,
                     (unsigned long)esp_get_free_heap_size(), (unsigned long)esp_get_minimum_free_heap_size(),
                     (unsigned long)uxTaskGetStackHighWaterMark(NULL), (unsigned long)c->base.wasm_len);
    if (n < 0 || (size_t)n >= cap) return ESP_ERR_INVALID_SIZE;
    return ESP_OK;
}

/* ---- the agent task ------------------------------------------------------------- */

/* Platform idle hook: the module is between calls, so a summary may be taken. */
static esp_err_t on_idle(void *arg)
{
    console_t *c = (console_t *)arg;
    if (xSemaphoreTake(c->summary_wanted, 0) != pdTRUE) return ESP_OK;
    esp_err_t err = build_summary(c, true, NULL, c->json, sizeof c->json);
    if (err != ESP_OK) return answer("error summary does not fit");
    return print_summary(c->json);
}

static esp_err_t run_once(console_t *c)
{
    agent_host_config_t cfg = c->base;
    cfg.run_until_ms = llround(c->hours * 3600000.0);
    cfg.trap_every_steps = c->trap_every;
    if (c->trap_every > 0) cfg.start_flags |= AGENT_FLAG_FAULT_INJECTION; /* arms debug_trap */

    while (xSemaphoreTake(c->summary_wanted, 0) == pdTRUE) {} /* no stale request */
    esp_err_t err = esp32_platform_virtual_time(c->plat, true, CONFIG_TRACKAGENT_TEST_HTTP_WAIT_MS);
    if (err == ESP_OK) err = esp32_platform_idle_hook(c->plat, on_idle, c);

    agent_status_t st = AGENT_ERR_ARG;
    if (err == ESP_OK) {
        ESP_LOGI(TAG, "run: %.3f virtual hours%s", c->hours, c->trap_every > 0 ? ", traps armed" : "");
        st = agent_host_init(&c->host, c->plat, &cfg);
        if (st == AGENT_OK) st = agent_host_run(&c->host);
    }
    (void)esp32_platform_idle_hook(c->plat, NULL, NULL);

    char why[160];
    const char *error = NULL;
    if (err != ESP_OK) {
        snprintf(why, sizeof why, "the platform refused virtual time: %s", esp_err_to_name(err));
        error = why;
    } else if (st == AGENT_ERR_START) {
        snprintf(why, sizeof why, "the module refused to start (status %d): see its log line above",
                 (int)c->host.start_status);
        error = why;
    } else if (st != AGENT_OK) {
        snprintf(why, sizeof why, "the module cannot run: %s%s%s", agent_status_text(st),
                 c->host.last_error != NULL ? ": " : "", c->host.last_error != NULL ? c->host.last_error : "");
        error = why;
    }
    esp_err_t built = build_summary(c, false, error, c->json, sizeof c->json);
    agent_host_deinit(&c->host); /* stops the agent: the runtime goes */
    (void)esp32_platform_virtual_time(c->plat, false, 0);
    while (xSemaphoreTake(c->summary_wanted, 0) == pdTRUE) {} /* the line below answers it */

    xSemaphoreTake(c->lock, portMAX_DELAY);
    if (built == ESP_OK) {
        memcpy(c->last, c->json, sizeof c->last);
        c->have_last = true;
    }
    c->running = false; /* before the line: the rig may send the next command at once */
    xSemaphoreGive(c->lock);
    if (built != ESP_OK) return answer("error summary does not fit");
    return print_summary(c->json);
}

static void agent_task(void *arg)
{
    console_t *c = (console_t *)arg;
    for (;;) {
        if (xSemaphoreTake(c->run_go, portMAX_DELAY) == pdTRUE) (void)run_once(c);
    }
}

/* ---- commands ----------------------------------------------------------------------- */

static esp_err_t print_ready(const console_t *c);

static bool is_running(console_t *c)
{
    xSemaphoreTake(c->lock, portMAX_DELAY);
    bool r = c->running;
    xSemaphoreGive(c->lock);
    return r;
}

static esp_err_t cmd_provision(console_t *c, int argc, char **argv)
{
    if (argc != 3) return answer("error usage: provision <key> <value>");
    bool known = false;
    for (size_t i = 0; i < sizeof identity_keys / sizeof identity_keys[0]; i++)
        known = known || strcmp(argv[1], identity_keys[i]) == 0;
    if (!known) return answer("error unknown key (tenantId, deviceId, environment, apiKey, resetSecret)");
    size_t len = strlen(argv[2]);
    if (len > VALUE_MAX) return answer("error value longer than %d bytes", VALUE_MAX);
    if (is_running(c)) return answer("error a run is in progress");
    /* The platform's own kv_set: one NVS blob + commit, atomic per key. */
    plat_status_t st = c->plat->kv_set(c->plat->ctx, argv[1], (const uint8_t *)argv[2], len);
    if (st != PLAT_OK) return answer("error NVS write failed (%d)", (int)st);
    return answer("ok");
}

static esp_err_t cmd_erase(console_t *c, int argc)
{
    if (argc != 1) return answer("error usage: erase");
    if (is_running(c)) return answer("error a run is in progress");
    esp_err_t err = esp32_platform_erase(c->plat);
    if (err != ESP_OK) return answer("error erase failed: %s", esp_err_to_name(err));
    return answer("ok");
}

static bool parse_count(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    if (*s < '0' || *s > '9') return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v == 0 || v > max) return false;
    *out = (uint32_t)v;
    return true;
}

static esp_err_t cmd_run(console_t *c, int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "trap-every") == 0))
        return answer("error usage: run <hours> [trap-every <steps>]");
    char *end;
    double hours = strtod(argv[1], &end);
    if (*end != '\0' || !isfinite(hours) || hours <= 0 || hours > HOURS_MAX)
        return answer("error hours: a number above 0, at most %.0f", HOURS_MAX);
    uint32_t trap_every = 0;
    if (argc == 4 && !parse_count(argv[3], TRAP_EVERY_MAX, &trap_every))
        return answer("error trap-every: 1 to %u steps", (unsigned)TRAP_EVERY_MAX);

    xSemaphoreTake(c->lock, portMAX_DELAY);
    bool busy = c->running;
    if (!busy) {
        c->running = true;
        c->hours = hours;
        c->trap_every = trap_every;
    }
    xSemaphoreGive(c->lock);
    if (busy) return answer("error a run is in progress");
    xSemaphoreGive(c->run_go); /* the answer is the SUMMARY line at the end */
    return ESP_OK;
}

static esp_err_t cmd_summary(console_t *c, int argc)
{
    if (argc != 1) return answer("error usage: summary");
    xSemaphoreTake(c->lock, portMAX_DELAY);
    bool running = c->running, have = c->have_last;
    if (!running && have) (void)print_summary(c->last); /* under the lock: a run may end meanwhile */
    xSemaphoreGive(c->lock);
    if (running) {
        /* The agent task prints it at its next idle moment (at most one HTTP
         * exchange away). */
        xSemaphoreGive(c->summary_wanted);
        return ESP_OK;
    }
    return have ? ESP_OK : answer("error no run since boot");
}

static bool is_base64(const char *s)
{
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

/* cacert begin | add <base64 line> | end | clear: the rig's CA, one PEM certificate. */
static esp_err_t cmd_cacert(console_t *c, int argc, char **argv)
{
    if (argc < 2) return answer("error usage: cacert begin|add <base64>|end|clear");
    if (is_running(c)) return answer("error a run is in progress");
    if (strcmp(argv[1], "begin") == 0 && argc == 2) {
        c->ca_len = (size_t)snprintf(c->ca, sizeof c->ca, "%s", PEM_BEGIN);
        c->ca_open = true;
        return answer("ok");
    }
    if (strcmp(argv[1], "add") == 0 && argc == 3) {
        size_t n = strlen(argv[2]);
        if (!c->ca_open) return answer("error cacert begin first");
        if (!is_base64(argv[2])) return answer("error not base64");
        if (c->ca_len + n + 1 + strlen(PEM_END) + 1 > sizeof c->ca) return answer("error certificate longer than %d bytes", TEST_CA_MAX);
        memcpy(c->ca + c->ca_len, argv[2], n);
        c->ca_len += n;
        c->ca[c->ca_len++] = '\n';
        return answer("ok");
    }
    if (strcmp(argv[1], "end") == 0 && argc == 2) {
        if (!c->ca_open) return answer("error cacert begin first");
        c->ca_len += (size_t)snprintf(c->ca + c->ca_len, sizeof c->ca - c->ca_len, "%s", PEM_END);
        c->ca_open = false;
        plat_status_t st = c->plat->kv_set(c->plat->ctx, TEST_CA_KEY, (const uint8_t *)c->ca, c->ca_len);
        return st == PLAT_OK ? answer("ok") : answer("error NVS write failed (%d)", (int)st);
    }
    if (strcmp(argv[1], "clear") == 0 && argc == 2) {
        c->ca_open = false;
        /* An empty value reads as no CA (esp32_platform.c takes only a non-empty one). */
        plat_status_t st = c->plat->kv_set(c->plat->ctx, TEST_CA_KEY, (const uint8_t *)"", 0);
        return st == PLAT_OK ? answer("ok") : answer("error NVS write failed (%d)", (int)st);
    }
    return answer("error usage: cacert begin|add <base64>|end|clear");
}

/* Splits at spaces; at most `max` words (more are reported as max + 1). */
static int split(char *line, char **argv, int max)
{
    int argc = 0;
    char *p = line;
    while (*p != '\0') {
        while (*p == ' ') *p++ = '\0';
        if (*p == '\0') break;
        if (argc == max) return max + 1;
        argv[argc++] = p;
        while (*p != '\0' && *p != ' ') p++;
    }
    return argc;
}

static esp_err_t handle_line(console_t *c, char *line)
{
    char *argv[4];
    int argc = split(line, argv, 4);
    if (argc == 0) return ESP_OK;
    /* The console's own answers coming back (a host tty left echoing): ignored,
     * or board and host would answer each other forever. */
    if (strcmp(argv[0], "ok") == 0 || strcmp(argv[0], "error") == 0 || strcmp(argv[0], "SUMMARY") == 0 ||
        strcmp(argv[0], "READY") == 0)
        return ESP_OK;
    if (strcmp(argv[0], "provision") == 0) return cmd_provision(c, argc, argv);
    if (strcmp(argv[0], "erase") == 0) return cmd_erase(c, argc);
    if (strcmp(argv[0], "run") == 0) return cmd_run(c, argc, argv);
    if (strcmp(argv[0], "summary") == 0) return cmd_summary(c, argc);
    if (strcmp(argv[0], "cacert") == 0) return cmd_cacert(c, argc, argv);
    /* The READY line again, for a rig that opened the port after the board booted. */
    if (strcmp(argv[0], "ready") == 0 && argc == 1) return print_ready(c);
    /* The line is not repeated: it may hold a value. */
    return answer("error unknown command (provision, erase, cacert, run, summary, ready)");
}

/* One received byte. A line ends at CR or LF; empty lines are ignored. */
static esp_err_t feed(console_t *c, uint8_t ch)
{
    esp_err_t err = ESP_OK;
    if (ch == '\r' || ch == '\n') {
        if (c->overlong) err = answer("error line longer than %d bytes", CONSOLE_LINE_MAX);
        else if (c->bad_byte) err = answer("error line holds a byte that is not printable ASCII");
        else if (c->line_len > 0) {
            c->line[c->line_len] = '\0';
            err = handle_line(c, c->line);
        }
        memset(c->line, 0, sizeof c->line); /* it may have held a key */
        c->line_len = 0;
        c->overlong = c->bad_byte = false;
        return err;
    }
    if (c->overlong || c->bad_byte) return ESP_OK; /* discard up to the end of the line */
    if (ch < 0x20 || ch > 0x7e) c->bad_byte = true;
    else if (c->line_len >= CONSOLE_LINE_MAX) c->overlong = true;
    else c->line[c->line_len++] = (char)ch;
    return ESP_OK;
}

/* "module=<16 hex> app=<16 hex>": the first 8 bytes of the embedded module's SHA-256 and
 * of the app ELF's. */
static void build_id(const console_t *c, char *out, size_t cap)
{
    uint8_t sum[32];
    char app[17] = "";
    if (mbedtls_sha256(c->base.wasm, c->base.wasm_len, sum, 0) != 0) memset(sum, 0, sizeof sum);
    esp_app_get_elf_sha256(app, sizeof app);
    int n = snprintf(out, cap, "module=");
    for (int i = 0; i < 8 && n > 0 && (size_t)n + 2 < cap; i++) n += snprintf(out + n, cap - (size_t)n, "%02x", sum[i]);
    if (n > 0 && (size_t)n < cap) snprintf(out + n, cap - (size_t)n, " app=%s", app);
}

static esp_err_t print_ready(const console_t *c)
{
    return answer("READY trackagent test console: %s idf=%s", c->id, esp_app_get_description()->idf_ver);
}

static void console_task(void *arg)
{
    console_t *c = (console_t *)arg;
    uint8_t chunk[64];
    build_id(c, c->id, sizeof c->id);
    (void)print_ready(c);
    for (;;) {
        /* Block for the first byte, then take whatever else has arrived. */
        int n = uart_read_bytes(CONSOLE_UART, chunk, 1, portMAX_DELAY);
        if (n <= 0) continue;
        int more = uart_read_bytes(CONSOLE_UART, chunk + 1, sizeof chunk - 1, 0);
        if (more > 0) n += more;
        for (int i = 0; i < n; i++) (void)feed(c, chunk[i]);
        memset(chunk, 0, sizeof chunk);
    }
}

esp_err_t test_console_start(const platform_t *plat, const agent_host_config_t *base)
{
    console_t *c = &con;
    if (plat == NULL || base == NULL) return ESP_ERR_INVALID_ARG;
    memset(c, 0, sizeof *c);
    c->plat = plat;
    c->base = *base;
    c->lock = xSemaphoreCreateMutex();
    c->run_go = xSemaphoreCreateBinary();
    c->summary_wanted = xSemaphoreCreateBinary();
    if (c->lock == NULL || c->run_go == NULL || c->summary_wanted == NULL) return ESP_ERR_NO_MEM;

#if CONFIG_PM_ENABLE
    /* Automatic light sleep gates the UART: the first bytes of a command would
     * be lost. A test rig is on USB power. */
    esp_pm_lock_handle_t awake = NULL;
    esp_err_t err = esp_pm_lock_create(ESP_PM_NO_LIGHT_SLEEP, 0, "console", &awake);
    if (err == ESP_OK) err = esp_pm_lock_acquire(awake);
    if (err != ESP_OK) return err;
#else
    esp_err_t err = ESP_OK;
#endif
    /* RX ring buffer only; output keeps going through stdout. */
    if (!uart_is_driver_installed(CONSOLE_UART)) err = uart_driver_install(CONSOLE_UART, 1024, 0, 0, NULL, 0);
    if (err != ESP_OK) return err;

    if (xTaskCreate(agent_task, "agent", CONFIG_TRACKAGENT_TASK_STACK, c, 5, NULL) != pdPASS) return ESP_ERR_NO_MEM;
    if (xTaskCreate(console_task, "console", CONSOLE_STACK, c, 5, NULL) != pdPASS) return ESP_ERR_NO_MEM;
    ESP_LOGW(TAG, "test console on UART%d: identity can be rewritten; never on a production device", CONSOLE_UART);
    return ESP_OK;
}

#else /* !CONFIG_TRACKAGENT_TEST_CONSOLE */

esp_err_t test_console_start(const platform_t *plat, const agent_host_config_t *base)
{
    (void)plat;
    (void)base;
    return ESP_ERR_NOT_SUPPORTED;
}

#endif
