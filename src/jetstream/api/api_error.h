// JetStream API errors: nats-server's HTTP-like code, its err_code and description.
#pragma once
#include <string>

namespace osprey::jetstream {

struct ApiError {
    int code = 0;
    int err_code = 0;
    std::string description;
};

namespace errors {
inline ApiError bad_request() { return {400, 10003, "bad request"}; }
inline ApiError invalid_json() { return {400, 10025, "invalid JSON"}; }
inline ApiError stream_not_found() { return {404, 10059, "stream not found"}; }
inline ApiError stream_name_mismatch() { return {400, 10056, "stream name in subject does not match request"}; }
inline ApiError stream_name_exists() { return {400, 10058, "stream name already in use with a different configuration"}; }
inline ApiError subjects_overlap() { return {400, 10065, "subjects overlap with an existing stream"}; }
inline ApiError invalid_config(std::string what) { return {500, 10052, std::move(what)}; }
inline ApiError replicas_not_supported() { return {500, 10074, "replicas > 1 not supported in non-clustered mode"}; }
inline ApiError no_message_found() { return {404, 10037, "no message found"}; }
inline ApiError msg_delete_failed(std::string what) { return {500, 10057, std::move(what)}; }
inline ApiError store_failed(std::string what) { return {503, 10077, std::move(what)}; }
inline ApiError msg_too_big() { return {400, 10054, "message size exceeds maximum allowed"}; }
inline ApiError header_too_big() { return {400, 10097, "header size exceeds maximum allowed of 64k"}; }
inline ApiError expected_stream_mismatch() { return {400, 10060, "expected stream does not match"}; }
inline ApiError wrong_last_msg_id(const std::string& id) { return {400, 10070, "wrong last msg ID: " + id}; }
inline ApiError wrong_last_sequence(unsigned long long seq) { return {400, 10071, "wrong last sequence: " + std::to_string(seq)}; }
inline ApiError sealed() { return {400, 10109, "invalid operation on sealed stream"}; }
inline ApiError not_enabled_for_account() { return {503, 10039, "JetStream not enabled for account"}; }
inline ApiError purge_failed(std::string what) { return {500, 10110, std::move(what)}; }
inline ApiError rollup_failed(std::string what) { return {500, 10111, std::move(what)}; }
inline ApiError update_failed(std::string what) { return {500, 10052, std::move(what)}; }
inline ApiError max_streams() { return {400, 10027, "maximum number of streams reached"}; }
inline ApiError name_has_separators() { return {400, 10128, "Stream name can not contain path separators"}; }
inline ApiError storage_exceeded() { return {500, 10047, "insufficient storage resources available"}; }
inline ApiError not_empty_request() { return {400, 10038, "expected an empty request payload"}; }
}  // namespace errors

}  // namespace osprey::jetstream
