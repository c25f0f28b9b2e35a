// The uplink log's public surface (manual: README.md in this folder).
export {
  UplinkLog, LOG_OK, LOG_ERR_IO, LOG_ERR_GEOMETRY, LOG_ERR_TOO_LARGE, LOG_ERR_ID,
  LOG_ERR_NOT_MOUNTED, LOG_ERR_RANGE, LOG_ERR_CORRUPT, LOG_MAX_PAYLOAD,
} from "./uplink_log";
