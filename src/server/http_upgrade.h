// A WebSocket upgrade handed over by the monitor's HTTP session: the connection (on the
// monitor's loop), what was read past the request, and the request itself (Beast accepts
// the upgrade from it).
#pragma once
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/http_api.h"

namespace osprey::server {

struct HttpUpgrade {
    HttpUpgrade(boost::beast::tcp_stream s, boost::beast::flat_buffer b,
                boost::beast::http::request<boost::beast::http::string_body> r)
        : stream(std::move(s)), buffer(std::move(b)), request(std::move(r)) {}
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> request;
};

}  // namespace osprey::server
