// The live connections of one server (HTTP sessions, frame links), co-owned by the server and
// by each connection's coroutine, so either may be destroyed first (even by io_context
// teardown), and the server can await the moment the last connection has gone.
#pragma once

#include "runtime/runtime.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <list>
#include <memory>
#include <optional>

namespace spear::transport {

template <class Entry>
class session_list {
public:
    using entries = std::list<Entry>;

    /// A connection's place in the list; leaving it (destruction) erases the entry.
    class membership {
    public:
        membership(std::shared_ptr<session_list> list, typename entries::iterator it)
            : list_(std::move(list))
            , it_(it) {}
        membership(const membership&) = delete;
        membership& operator=(const membership&) = delete;
        ~membership() { list_->leave(it_); }
        Entry& entry() noexcept { return *it_; }

    private:
        std::shared_ptr<session_list> list_;
        typename entries::iterator it_;
    };

    /// Adds `entry`; the caller keeps the membership for the connection's life.
    static membership join(const std::shared_ptr<session_list>& list, Entry entry) {
        list->entries_.push_front(std::move(entry));
        return membership(list, list->entries_.begin());
    }

    std::size_t size() const noexcept { return entries_.size(); }
    entries& all() noexcept { return entries_; }

    /// Completes when the list is empty, or after `bound`; true if it is empty.
    boost::asio::awaitable<bool> wait_empty(const boost::asio::any_io_executor& ex,
                                            std::chrono::milliseconds bound) {
        if (entries_.empty())
            co_return true;
        emptied_.emplace(ex); // one waiter: the server's drain
        co_await emptied_->wait_for(bound);
        emptied_.reset();
        co_return entries_.empty();
    }

private:
    void leave(typename entries::iterator it) {
        entries_.erase(it);
        if (entries_.empty() && emptied_)
            emptied_->set();
    }

    entries entries_;
    std::optional<runtime::async_event> emptied_;
};

} // namespace spear::transport
