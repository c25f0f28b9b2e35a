// Whether the agent fits an ESP32 without PSRAM: the heap it needs, measured, against the heap
// ESP-IDF documents as left to applications with Wi-Fi, TLS and an HTTP client running.
import type { Wasm3Figures } from './wasm3.ts';

/** Figures taken from ESP-IDF's documentation and sources, each with where it is written. */
export const ESP_IDF = {
  freeHeapWithWifi: {
    bytes: Math.round(144.5 * 1024),
    source: 'ESP-IDF Programming Guide, Wi-Fi Performance and Power Save, ESP32 configuration ranks: available memory 144.5 KB at the Default rank (docs/en/api-guides/wifi-driver/wifi-performance-and-power-save.rst)',
  },
  tlsSession: {
    bytes: 22_013,
    source: 'ESP-IDF Programming Guide, Mbed TLS, Reducing Heap Usage: 22,013 B for the https_request example with dynamic TX/RX buffers, as boards/esp32/sdkconfig.defaults configures (docs/en/api-reference/protocols/mbedtls.rst)',
  },
  httpClientBuffers: {
    bytes: 2 * 512,
    source: 'esp_http_client receive and transmit buffers, DEFAULT_HTTP_BUF_SIZE 512 each (components/esp_http_client/include/esp_http_client.h)',
  },
};

// The board's own, from its code and configuration.
const AGENT_TASK_STACK = 49_152; // boards/esp32/main/Kconfig.projbuild, TRACKAGENT_TASK_STACK
const ANSWER_BUFFER = 4_096; // boards/common/agent_host.c: one answer buffer of rx_capacity() bytes
const URL_COPY_MAX = 288; // esp32_platform.c copies the URL: 128-byte environment, 64-byte ids, the longest endpoint

export interface Esp32Fit {
  availableBytes: number;
  needBytes: number;
  marginBytes: number;
  fits: boolean;
  parts: Record<string, number>;
}

/** The need during the 2,000-record drain (wasm3 as a 32-bit program, lazy compile, the ESP32's default). */
export function esp32Fit(w: Wasm3Figures): Esp32Fit {
  const parts = {
    wasm3HeapPeak: w.drainLazy.heapPeakBytes,
    agentTaskStack: AGENT_TASK_STACK,
    answerBuffer: ANSWER_BUFFER,
    urlCopy: URL_COPY_MAX,
    httpClientBuffers: ESP_IDF.httpClientBuffers.bytes,
  };
  const needBytes = Object.values(parts).reduce((a, b) => a + b, 0);
  const availableBytes = ESP_IDF.freeHeapWithWifi.bytes - ESP_IDF.tlsSession.bytes;
  return { availableBytes, needBytes, marginBytes: availableBytes - needBytes, fits: needBytes <= availableBytes, parts };
}
