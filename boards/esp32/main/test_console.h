/*
 * test_console.h - a line console on the UART console for test rigs
 * (CONFIG_TRACKAGENT_TEST_CONSOLE; never on production devices: it can rewrite
 * the identity). Commands, one per line, each answered on its own line:
 *
 *   provision <key> <value>   one identity value into NVS (kv_set)  -> ok | error <reason>
 *   erase                     NVS namespace + uplink-log partition  -> ok | error <reason>
 *   run <hours> [trap-every <n>]
 *                             the agent in virtual time, then stops -> SUMMARY {json}
 *   summary                   the current or last run               -> SUMMARY {json} | error <reason>
 *
 * Manual: boards/esp32/README.md, "Console (test rigs)".
 */
#ifndef TRACKAGENT_TEST_CONSOLE_H
#define TRACKAGENT_TEST_CONSOLE_H

#include "agent_host.h"
#include "esp_err.h"
#include "platform.h"

/* Starts the console task and the task that runs the agent on `run`; the board
 * then runs the agent only when told. `base` is the configuration of a normal
 * boot (copied; its wasm and board configuration must outlive the console).
 * ESP_ERR_NOT_SUPPORTED when the console is not configured in. */
esp_err_t test_console_start(const platform_t *plat, const agent_host_config_t *base);

#endif /* TRACKAGENT_TEST_CONSOLE_H */
