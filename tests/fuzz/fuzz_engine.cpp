// libFuzzer target: the container runtime's view of the Docker/Podman engine, from bytes. The
// first byte picks a mode and a body limit, the second the size of the reads the rest arrives
// in (as a unix socket would cut it):
//   answer   an engine answer (response_reader: Content-Length, chunked, until the close),
//            then its JSON read as create, inspect and version answers and as an error;
//   attach   an attach answer (header only) followed by the raw multiplexed stream;
//   stream   the multiplexed stream alone (attach_demuxer).
// Invariants: the same bytes give the same result in any split (a split may only defer a
// header error until more bytes or the close); a body never exceeds its
// limit; a response complete before the close, cut by one byte, is an error (a truncated
// answer is reported, never invented); the stream bytes after an attach header are handed
// over untouched; the demuxer delivers exactly the payload the frame headers declare (checked
// against a model), never buffers it (each piece lies in the bytes just fed) and reports a
// stream cut inside a frame as not at a frame boundary.
#include "fuzz_support.hpp"
#include "runtime/container/attach_stream.hpp"
#include "runtime/container/engine_answers.hpp"
#include "runtime/container/engine_client.hpp"
#include "runtime/container/engine_http.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace spear::runtime::container;
using spear::fuzz::check;
using state = response_reader::state;

/// Calls `on_read(piece)` for `bytes` cut into reads of `step` bytes.
template <class OnRead>
void in_reads(std::string_view bytes, std::size_t step, OnRead&& on_read) {
    while (!bytes.empty()) {
        const auto piece = bytes.substr(0, step);
        bytes.remove_prefix(piece.size());
        on_read(piece);
    }
}

/// A reader fed `bytes` in reads of `step`, then the close if it still needs more.
void feed_all(response_reader& r, std::string_view bytes, std::size_t step, bool eof) {
    in_reads(bytes, step, [&](std::string_view piece) { r.feed(piece); });
    if (eof && r.current() == state::needs_more)
        r.feed_eof();
}

void check_answer_json(const engine_response& res) {
    const auto text = engine_client::error_text(res);
    check(!text.empty() && text.size() <= 303); // cut at 300 bytes plus "..."
    if (const auto id = created_id(res))
        check(res.status == 201);
    if (const auto st = inspected_state(res))
        check(res.status == 200);
    (void)engine_version(res);
}

void fuzz_answer(std::string_view input, std::size_t step, std::size_t limit) {
    response_reader whole(limit);
    feed_all(whole, input, input.size() + 1, true);
    response_reader split(limit);
    feed_all(split, input, step, true);
    check(whole.current() == split.current());
    check(whole.current() != state::needs_more); // the close always settles it
    if (whole.current() == state::error) {
        check(!whole.error().empty() && !split.error().empty());
        return;
    }
    const auto& res = whole.response();
    check(res.status >= 100 && res.status <= 599);
    check(res.body.size() <= limit);
    check(split.response().status == res.status && split.response().body == res.body);
    check_answer_json(res);

    // Complete before the close: find the shortest prefix that is a whole answer (being done
    // only grows with the prefix), then one byte less and the close must be an error.
    response_reader open(limit);
    open.feed(input);
    if (open.current() != state::done)
        return; // delimited by the close: any prefix of it is an answer
    std::size_t lo = 0, hi = input.size(); // done at hi, not at lo (nothing is not an answer)
    while (hi - lo > 1) {
        const std::size_t mid = lo + (hi - lo) / 2;
        response_reader r(limit);
        if (r.feed(input.substr(0, mid)) == state::done)
            hi = mid;
        else
            lo = mid;
    }
    response_reader shortest(limit);
    check(shortest.feed(input.substr(0, hi)) == state::done);
    check(shortest.response().status == res.status && shortest.response().body == res.body);
    response_reader cut(limit);
    cut.feed(input.substr(0, hi - 1));
    check(cut.current() == state::needs_more);
    check(cut.feed_eof() == state::error);
}

/// The stream as the frame headers declare it, computed directly.
struct stream_model {
    std::string out, err;
    bool ok = true;
    bool boundary = true;

    explicit stream_model(std::string_view s) {
        std::size_t pos = 0;
        while (pos < s.size()) {
            if (s.size() - pos < 8) {
                boundary = false;
                return;
            }
            const auto h = [&](std::size_t i) { return static_cast<unsigned char>(s[pos + i]); };
            if (h(0) > 2 || h(1) != 0 || h(2) != 0 || h(3) != 0) {
                ok = false;
                return;
            }
            const std::size_t length = (std::size_t{h(4)} << 24) | (std::size_t{h(5)} << 16) |
                                       (std::size_t{h(6)} << 8) | std::size_t{h(7)};
            const int type = h(0);
            pos += 8;
            const std::size_t take = std::min(length, s.size() - pos);
            if (type == 1)
                out.append(s.substr(pos, take));
            else if (type == 2)
                err.append(s.substr(pos, take));
            pos += take;
            if (take < length) {
                boundary = false;
                return;
            }
        }
    }
};

struct collected final : attach_demuxer::handler {
    std::string out, err;
    std::string_view fed; ///< the bytes of the current feed: every piece must lie inside
    void on_payload(attach_demuxer::stream which, std::string_view piece) override {
        check(!piece.empty());
        check(piece.data() >= fed.data() && piece.data() + piece.size() <= fed.data() + fed.size());
        check(which == attach_demuxer::stream::stdout_stream ||
              which == attach_demuxer::stream::stderr_stream);
        (which == attach_demuxer::stream::stdout_stream ? out : err).append(piece);
    }
};

void fuzz_stream(std::string_view stream, std::size_t step) {
    const stream_model model(stream);
    attach_demuxer demux;
    collected got;
    bool ok = true;
    in_reads(stream, step, [&](std::string_view piece) {
        got.fed = piece;
        const bool fed = demux.feed(piece, got);
        check(ok || !fed); // once failed, failed for good
        ok = ok && fed;
    });
    check(ok == model.ok);
    check(got.out == model.out && got.err == model.err);
    if (ok)
        check(demux.at_frame_boundary() == model.boundary);
    else
        check(!demux.error().empty());
}

void fuzz_attach(std::string_view input, std::size_t step) {
    response_reader whole(1 << 20, true);
    whole.feed(input);
    response_reader split(1 << 20, true);
    in_reads(input, step, [&](std::string_view piece) { split.feed(piece); });
    // Beast rejects a bad header line as soon as it sees it whole, or, once it has asked for
    // more, when the header's end arrives: a split may defer an error, never change a result.
    if (whole.current() == state::done || split.current() == state::done)
        check(whole.current() == split.current());
    if (whole.current() != state::done) {
        check(whole.current() == state::error || whole.feed_eof() == state::error);
        check(split.current() == state::error || split.feed_eof() == state::error);
        return;
    }
    check(whole.response().status == split.response().status);
    check(whole.response().status >= 100 && whole.response().status <= 599);
    check(whole.response().body.empty()); // header only: the stream is never "the body"
    const auto leftover = split.take_leftover();
    check(whole.take_leftover() == leftover);
    // The stream is the input after the header, byte for byte.
    check(leftover.size() < input.size() && input.ends_with(leftover));
    check(input.substr(0, input.size() - leftover.size()).ends_with("\n"));
    // Bytes after the header keep arriving into the leftover.
    split.feed("more");
    check(split.take_leftover() == "more");
    const unsigned status = whole.response().status;
    if (status == 101 || status == 200)
        fuzz_stream(leftover, step);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2)
        return 0;
    const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
    const std::size_t step = data[1] + 1u;
    constexpr std::array<std::size_t, 4> limits{64, 512, 4096, 1 << 20};
    switch (data[0] % 3) {
    case 0:
        fuzz_answer(input, step, limits[(data[0] >> 2) & 3]);
        break;
    case 1:
        fuzz_attach(input, step);
        break;
    default:
        fuzz_stream(input, step);
        break;
    }
    return 0;
}
